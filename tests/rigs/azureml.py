"""Offline Azure ML: Azurite for blobs + a fake Azure ML control plane (a real HTTP server on 127.0.0.1).

``Azurite`` (``tests/rigs/azurite.py``) serves every blob. ``FakeAzureML`` answers
the ARM paths azure-ai-ml calls, by path whatever the api-version: code versions (``startPendingUpload`` returns
an Azurite SAS URL), datastores, jobs, models, online endpoints and deployments, plus the workspace discovery and
run-history paths the SDK's job logs use. ``MLClient`` reaches it through a custom cloud whose resource manager is
the fake's URL (see ``FakeAzureML.client_options``).

Jobs run for real (``_azureml_jobs.JobRunner``: the uploaded code through the launcher, as an Azure ML command job
runs, streaming its logs); deployments run the deployed scoring script as Azure's inference server does
(``_azureml_endpoints.Endpoints``); the endpoint's scoring URI ``{base}/score/{endpoint}`` needs the endpoint key.

Faults: ``fail_next[(method, path_regex)] = [status, ...]`` answers the next matching requests with those statuses
(``503``, ``429``, ``401`` with an expired-token error, a quota refusal with ``409`` and an Azure quota message, or
``0``: the connection is reset with no answer).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.rigs._azureml_arm import ArmError
from tests.rigs._azureml_endpoints import Endpoints
from tests.rigs._azureml_jobs import JobRunner
from tests.rigs.azurite import (
    ACCOUNT,
    ACCOUNT_KEY,
    ARTIFACT_CONTAINER,
    WORKSPACE_CONTAINER,
    Azurite,
    find_azurite,
)

__all__ = ["ACCOUNT", "ARTIFACT_CONTAINER", "WORKSPACE_CONTAINER", "Azurite", "FakeAzureML", "FakeCredential",
           "RigTransport", "find_azurite"]

QUOTA_MESSAGE = ("Not enough quota available for {instance_type} in SubscriptionId {sub}. Current usage/limit: "
                 "0/0. Additional needed: 8. Please see troubleshooting guide: aka.ms/azureml-quota")
_WS = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/"
                 r"workspaces/([^/]+)(/.*)?$", re.IGNORECASE)


# -- the fake control plane -------------------------------------------------------------------------------
def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


class FakeAzureML(JobRunner, Endpoints):
    """A fake Azure ML workspace behind a real HTTP server. ``requests`` logs every call as
    ``(method, path, query, json_body)``; ``computes`` maps cluster names to VM sizes."""

    def __init__(self, azurite: Azurite, subscription: str = "00000000-0000-0000-0000-000000000000",
                 resource_group: str = "rg-cloudml", workspace: str = "ws-cloudml"):
        self.azurite = azurite
        self.subscription, self.resource_group, self.workspace = subscription, resource_group, workspace
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.resources: dict[str, dict[str, Any]] = {}   # lower-cased relative path -> resource
        self.code_hashes: dict[str, str] = {}            # code name -> hash the SDK listed by
        self.computes: dict[str, dict[str, str]] = {
            "cpu-cluster": {"vmSize": "STANDARD_D2S_V3", "vmPriority": "Dedicated"},
            "gpu-cluster": {"vmSize": "STANDARD_NC24ADS_A100_V4", "vmPriority": "Dedicated"},
            "spot-cluster": {"vmSize": "STANDARD_D2S_V3", "vmPriority": "LowPriority"},
        }
        self.fail_next: dict[tuple[str, str], list[int]] = {}
        self.job_delay = 0.0                            # seconds a job sits in Queued
        self.processes: dict[str, list[subprocess.Popen[bytes]]] = {}  # deployment key -> scoring process
        self.deployment_ports: dict[str, int] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix="cloudml-fakeaml-"))
        self.server: ThreadingHTTPServer | None = None
        self.threads: list[threading.Thread] = []
        self.job_dirs: dict[str, Path] = {}
        self.job_procs: dict[str, list[subprocess.Popen[str]]] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        """Where the server really listens (plain HTTP)."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The URL the fake calls itself by: https, as Azure's are (azure-core sends bearer tokens over https
        only). ``RigTransport`` maps it back to ``http_url`` on the wire."""
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    @property
    def ws_prefix(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.MachineLearningServices/workspaces/{self.workspace}")

    def start(self) -> FakeAzureML:
        for c in (WORKSPACE_CONTAINER, ARTIFACT_CONTAINER, "code-snapshots"):
            self.azurite.ensure_container(c)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers = fake.dispatch(self.command, self.path, raw, dict(self.headers))
                if status == 0:  # an injected connection reset: close without answering
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-ms-request-id", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-azureml").start()
        return self

    def stop(self) -> None:
        with self.lock:  # cancel whatever still runs: a test's end is every job's end
            for rel in list(self.resources):
                props = self.resources[rel].get("properties", {})
                if rel.startswith("/jobs/") and props.get("status") in ("Queued", "Starting", "Running", "NotStarted"):
                    props["status"] = "CancelRequested"
                    self._kill_job(self.resources[rel]["name"])
            for key in list(self.processes):
                self._stop_scoring(key)
        for t in self.threads:
            t.join(timeout=30)
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def client_options(self) -> dict[str, Any]:
        """What ``AzureMLProvider`` needs to talk to this fake instead of Azure."""
        return {
            "subscription_id": self.subscription, "resource_group": self.resource_group, "workspace": self.workspace,
            "arm_endpoint": self.base_url, "storage_account_url": self.azurite.account_url,
            "credential": FakeCredential(), "transport": RigTransport({self.base_url: self.http_url}),
        }

    # -- queries for tests ------------------------------------------------------------------------------
    def calls(self, method: str | None = None, contains: str = "") -> list[tuple[str, str, dict, Any]]:
        with self.lock:
            return [r for r in self.requests if (method is None or r[0] == method) and contains.lower() in r[1].lower()]

    def live(self, kind: str) -> list[str]:
        """Names of the stored resources of ``kind`` (``jobs``, ``onlineEndpoints``, ``models`` ...)."""
        with self.lock:
            out = []
            for rel, res in self.resources.items():
                parts = rel.strip("/").split("/")
                if parts[0] == kind.lower() and (len(parts) == 2 or (kind.lower() == "models" and len(parts) == 4)):
                    out.append(res.get("name", parts[-1]))
            return out

    def job(self, name: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.resources[f"/jobs/{name}".lower()])

    def set_job_status(self, name: str, status: str) -> None:
        with self.lock:
            self.resources[f"/jobs/{name}".lower()]["properties"]["status"] = status

    # -- dispatch -------------------------------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, raw: bytes, headers: dict[str, str]):
        url = urlparse(raw_path)
        path, query = unquote(url.path), parse_qs(url.query)
        try:
            body = json.loads(raw) if raw and "json" in headers.get("Content-Type", "json") else raw
        except ValueError:
            body = raw
        with self.lock:
            self.requests.append((method, path, query, body))
            for (m, pattern), statuses in list(self.fail_next.items()):
                if m == method and re.search(pattern, path) and statuses:
                    status = statuses.pop(0)
                    return self._fault(status, body)
        try:
            if path == "/discovery":
                return 200, {"api": self.base_url, "history": self.base_url, "catalog": self.base_url,
                             "experimentation": self.base_url, "gallery": self.base_url}, {}
            if path.startswith("/score/"):
                return self._score(path[len("/score/"):], raw, headers)
            if path.startswith("/history/"):
                return self._history(method, path)
            m = _WS.match(path)
            if not m:
                raise ArmError(404, "NotFound", f"no such path {path}")
            if (m.group(1), m.group(2).lower(), m.group(3).lower()) != (
                    self.subscription, self.resource_group.lower(), self.workspace.lower()):
                raise ArmError(404, "ResourceNotFound", f"workspace {m.group(3)} not found")
            if headers.get("Authorization", "") != f"Bearer {FakeCredential.TOKEN}":
                raise ArmError(401, "AuthenticationFailed", "missing or wrong bearer token")
            return self._arm(method, m.group(4) or "", query, body)
        except ArmError as exc:
            return exc.status, {"error": {"code": exc.code, "message": exc.message}}, {}

    def _fault(self, status: int, body: Any):
        if status == 0:
            return 0, None, {}
        if status == 401:
            return 401, {"error": {"code": "ExpiredAuthenticationToken", "message": "The access token expiry UTC "
                                   "time is earlier than current UTC time."}}, {}
        if status == 409:
            size = ""
            if isinstance(body, dict):
                size = (body.get("properties", {}).get("resources") or {}).get("instanceType") or \
                    body.get("sku", {}).get("name", "") or (body.get("properties", {}).get("instanceType") or "")
            return 409, {"error": {"code": "QuotaExceeded", "message": QUOTA_MESSAGE.format(
                instance_type=size or "Standard_NC24ads_A100_v4", sub=self.subscription)}}, {}
        if status == 429:
            return 429, {"error": {"code": "TooManyRequests", "message": "throttled"}}, {"Retry-After": "0"}
        return status, {"error": {"code": "ServiceUnavailable", "message": "transient fault injected"}}, {"Retry-After": "0"}

    def _rid(self, rel: str) -> str:
        return self.ws_prefix + rel

    def _store(self, rel: str, name: str, rtype: str, body: dict[str, Any]) -> dict[str, Any]:
        res = copy.deepcopy(body) if isinstance(body, dict) else {}
        res.update({"id": self._rid(rel), "name": name, "type": rtype})
        res.setdefault("properties", {})
        res["systemData"] = {"createdAt": _now(), "createdBy": "cloudml-rig", "createdByType": "User",
                             "lastModifiedAt": _now()}
        self.resources[rel.lower()] = res
        return res

    def _get(self, rel: str) -> dict[str, Any]:
        res = self.resources.get(rel.lower())
        if res is None:
            raise ArmError(404, "UserError", f"Could not find {rel.strip('/')}")
        return res

    def _list(self, prefix: str, depth: int) -> dict[str, Any]:
        prefix = prefix.lower().rstrip("/") + "/"
        items = [r for k, r in self.resources.items() if k.startswith(prefix) and k.count("/") == prefix.count("/") + depth - 1]
        return {"value": copy.deepcopy(items)}

    # -- ARM resources -------------------------------------------------------------------------------------
    def _arm(self, method: str, rel: str, query: dict[str, list[str]], body: Any):
        parts = [p for p in rel.split("/") if p]
        kind = parts[0].lower() if parts else ""
        if not parts:
            return 200, self._workspace(), {}
        handler = getattr(self, f"_arm_{kind}", None)
        if handler is None:
            raise ArmError(404, "NotFound", f"the fake does not serve {rel}")
        return handler(method, parts, query, body)

    def _workspace(self) -> dict[str, Any]:
        return {"id": self.ws_prefix, "name": self.workspace, "type": "Microsoft.MachineLearningServices/workspaces",
                "location": "eastus", "kind": "Default",
                "properties": {"discoveryUrl": f"{self.base_url}/discovery", "workspaceId": str(uuid.UUID(int=1)),
                               "provisioningState": "Succeeded", "mlFlowTrackingUri": "", "friendlyName": self.workspace}}

    def _arm_computes(self, method, parts, query, body):
        if len(parts) == 1:
            return 200, {"value": [self._compute(n) for n in self.computes]}, {}
        name = parts[1]
        match = {k.lower(): k for k in self.computes}.get(name.lower())
        if match is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.MachineLearningServices/workspaces/"
                                                    f"{self.workspace}/computes/{name}' was not found.")
        return 200, self._compute(match), {}

    def _compute(self, name: str) -> dict[str, Any]:
        c = self.computes[name]
        return {"id": self._rid(f"/computes/{name}"), "name": name, "type": "Microsoft.MachineLearningServices/workspaces/computes",
                "location": "eastus",
                "properties": {"computeType": "AmlCompute", "provisioningState": "Succeeded", "computeLocation": "eastus",
                               "properties": {"vmSize": c["vmSize"], "vmPriority": c["vmPriority"],
                                              "scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0,
                                                                "nodeIdleTimeBeforeScaleDown": "PT120S"}}}}

    def _arm_datastores(self, method, parts, query, body):
        if len(parts) == 1:
            return 200, {"value": [self._datastore("workspaceblobstore"), self._datastore("workspaceartifactstore")]}, {}
        name = parts[1]
        if name not in ("workspaceblobstore", "workspaceartifactstore"):
            raise ArmError(404, "UserError", f"datastore {name} not found")
        if len(parts) == 3 and parts[2].lower() == "listsecrets":
            return 200, {"secretsType": "AccountKey", "key": ACCOUNT_KEY}, {}
        return 200, self._datastore(name), {}

    def _datastore(self, name: str) -> dict[str, Any]:
        return {"id": self._rid(f"/datastores/{name}"), "name": name, "type": "Microsoft.MachineLearningServices/workspaces/datastores",
                "properties": {"datastoreType": "AzureBlob", "accountName": ACCOUNT,
                               "containerName": WORKSPACE_CONTAINER if name == "workspaceblobstore" else ARTIFACT_CONTAINER,
                               "endpoint": "core.windows.net", "protocol": "https", "isDefault": name == "workspaceblobstore",
                               "credentials": {"credentialsType": "AccountKey"}}}

    def _arm_codes(self, method, parts, query, body):
        # codes/{name}/versions[/{version}[/startPendingUpload]]
        name = parts[1] if len(parts) > 1 else ""
        if len(parts) == 2:
            if method == "PUT":
                return 200, self._store(f"/codes/{name}", name, "codes", body), {}
            return 200, self._get(f"/codes/{name}"), {}
        if len(parts) == 3:  # list versions, maybe by content hash
            wanted = (query.get("hash") or [None])[0]
            listed = self._list(f"/codes/{name}/versions", 1)["value"]
            if wanted:  # a content-hash lookup searches every code asset, whatever name the SDK sent
                self.code_hashes[name] = wanted
                listed = [copy.deepcopy(c) for k, c in self.resources.items()
                          if k.startswith("/codes/") and c["properties"].get("contentHash") == wanted]
            return 200, {"value": listed}, {}
        version = parts[3]
        rel = f"/codes/{name}/versions/{version}"
        if len(parts) == 5 and parts[4].lower() == "startpendingupload":
            prefix = f"LocalUpload/{uuid.uuid4().hex}"
            sas = self.azurite.container_sas_url(WORKSPACE_CONTAINER)
            base, _, token = sas.partition("?")
            return 200, {"blobReferenceForConsumption": {
                "blobUri": f"{base}/{prefix}", "storageAccountArmId": "/subscriptions/x/storageAccounts/devstoreaccount1",
                "credential": {"credentialType": "SAS", "sasUri": f"{base}/{prefix}?{token}"}},
                "pendingUploadId": prefix, "pendingUploadType": "TemporaryBlobReference"}, {}
        if method == "PUT":
            if rel.lower() in self.resources:
                return 200, self.resources[rel.lower()], {}
            res = self._store(rel, version, "codes/versions", body)
            if name in self.code_hashes:
                res["properties"]["contentHash"] = self.code_hashes[name]
            res["properties"]["provisioningState"] = "Succeeded"
            return 201, res, {}
        if method == "DELETE":
            self.resources.pop(rel.lower(), None)
            return 200, None, {}
        return 200, self._get(rel), {}

    def _arm_environments(self, method, parts, query, body):
        if len(parts) < 4:
            if method == "PUT" and len(parts) == 2:
                return 200, self._store(f"/environments/{parts[1]}", parts[1], "environments", body), {}
            if len(parts) == 3:
                return 200, self._list(f"/environments/{parts[1]}/versions", 1), {}
            return 200, self._get("/" + "/".join(parts)), {}
        rel = f"/environments/{parts[1]}/versions/{parts[3]}"
        if method == "PUT":
            res = self._store(rel, parts[3], "environments/versions", body)
            res["properties"]["provisioningState"] = "Succeeded"
            return 201, res, {}
        return 200, self._get(rel), {}

    def _arm_models(self, method, parts, query, body):
        name = parts[1] if len(parts) > 1 else ""
        if len(parts) == 1:
            return 200, self._list("/models", 1), {}
        if len(parts) == 2:
            rel = f"/models/{name}"
            if method == "PUT":
                return 200, self._store(rel, name, "models", body), {}
            if method == "DELETE":
                for k in [k for k in self.resources if k.startswith(rel.lower() + "/")] + [rel.lower()]:
                    self.resources.pop(k, None)
                return 200, None, {}
            return 200, self._get(rel), {}
        if len(parts) == 3:
            return 200, self._list(f"/models/{name}/versions", 1), {}
        rel = f"/models/{name}/versions/{parts[3]}"
        if method == "PUT":
            res = self._store(rel, parts[3], "models/versions", body)
            res["properties"]["provisioningState"] = "Succeeded"
            res["properties"]["flavors"] = res["properties"].get("flavors") or {}
            self.resources.setdefault(f"/models/{name}".lower(), {
                "id": self._rid(f"/models/{name}"), "name": name, "type": "models", "properties": {}})
            return 201, res, {}
        if method == "DELETE":
            if rel.lower() not in self.resources:
                raise ArmError(404, "UserError", f"model {name}:{parts[3]} not found")
            self.resources.pop(rel.lower())
            return 200, None, {}
        return 200, self._get(rel), {}

    # -- jobs -----------------------------------------------------------------------------------------------
    def _arm_jobs(self, method, parts, query, body):
        if len(parts) == 1:
            listed = self._list("/jobs", 1)["value"]
            listed.sort(key=lambda j: j["systemData"]["createdAt"], reverse=True)
            return 200, {"value": listed}, {}
        name = parts[1]
        rel = f"/jobs/{name}"
        if len(parts) == 3 and parts[2].lower() == "cancel":
            job = self._get(rel)
            if job["properties"]["status"] not in ("Completed", "Failed", "Canceled"):
                job["properties"]["status"] = "CancelRequested"
                self._kill_job(name)
            return 202, None, {"Location": f"{self.base_url}{self.ws_prefix}{rel}", "Retry-After": "0"}
        if method == "PUT":
            if rel.lower() in self.resources:  # a retried create: the same job, never a second one
                return 200, self.resources[rel.lower()], {}
            props = body.get("properties", {})
            compute = (props.get("computeId") or "").rsplit("/", 1)[-1]
            if compute and compute.lower() not in {k.lower() for k in self.computes}:
                raise ArmError(400, "UserError", f"Compute {compute} not found in workspace {self.workspace}")
            res = self._store(rel, name, "Microsoft.MachineLearningServices/workspaces/jobs", body)
            p = res["properties"]
            p["status"] = "NotStarted"
            p.setdefault("experimentName", "Default")
            p["services"] = {"Studio": {"jobServiceType": "Studio", "endpoint": f"{self.base_url}/studio/{name}"},
                             "Tracking": {"jobServiceType": "Tracking", "endpoint": "azureml://tracking"}}
            for oname, out in (p.get("outputs") or {}).items():
                if out and not out.get("uri"):
                    out["uri"] = f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/{oname}/"
            t = threading.Thread(target=self._run_job, args=(name,), daemon=True, name=f"job-{name}")
            self.threads.append(t)
            t.start()
            return 201, res, {}
        if method == "DELETE":
            self.resources.pop(rel.lower(), None)
            return 202, None, {}
        return 200, self._get(rel), {}

    def _history(self, method: str, path: str):
        m = re.search(r"/runs/([^/]+)/details$", path)
        if not m:
            raise ArmError(404, "NotFound", f"no such history path {path}")
        name = m.group(1)
        with self.lock:
            job = self._get(f"/jobs/{name}")
            status = job["properties"]["status"]
            error = job.get("_error")
        logs = {}
        for blob in self.azurite.list_blobs(ARTIFACT_CONTAINER, f"ExperimentRun/dcid.{name}/"):
            logs[blob.split(f"dcid.{name}/", 1)[1]] = self.azurite.blob_sas_url(ARTIFACT_CONTAINER, blob)
        details: dict[str, Any] = {"runId": name, "status": status, "target": "compute", "logFiles": logs,
                                   "warnings": [], "properties": {}, "inputDatasets": [], "outputDatasets": []}
        if error:
            details["error"] = {"error": {"code": "UserError", "message": error}}
        return 200, details, {}

def _rig_transport_class():
    from azure.core.pipeline.transport import RequestsTransport

    class _RigTransport(RequestsTransport):
        """azure-core's requests transport, sending ``https://127.0.0.1:P`` requests to ``http://127.0.0.1:P``."""

        def __init__(self, rewrites: dict[str, str], **kwargs: Any):
            super().__init__(**kwargs)
            self.rewrites = rewrites

        def send(self, request, **kwargs):  # type: ignore[override]
            original = request.url
            for src, dst in self.rewrites.items():
                if original.startswith(src):
                    request.url = dst + original[len(src):]
            try:
                return super().send(request, **kwargs)
            finally:  # pollers and redirects go on seeing the https URL
                request.url = original

    return _RigTransport


def RigTransport(rewrites: dict[str, str]):  # noqa: N802 - a factory that reads like the class it makes
    return _rig_transport_class()(rewrites)


class FakeCredential:
    """An azure-core ``TokenCredential`` for the rig (the fake checks for this token)."""

    TOKEN = "cloudml-rig-token"

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken(self.TOKEN, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self.TOKEN, int(time.time()) + 3600)
