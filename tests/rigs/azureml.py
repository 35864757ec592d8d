"""Offline Azure ML: Azurite for blobs + a fake Azure ML control plane (a real HTTP server on 127.0.0.1).

``Azurite`` starts the npm ``azurite-blob`` server (in memory, no telemetry) on a free port. ``FakeAzureML`` answers
the ARM paths azure-ai-ml calls, by path whatever the api-version: code versions (``startPendingUpload`` returns
an Azurite SAS URL), datastores, jobs, models, online endpoints and deployments, plus the workspace discovery and
run-history paths the SDK's job logs use. ``MLClient`` reaches it through a custom cloud whose resource manager is
the fake's URL (see ``FakeAzureML.client_options``).

Jobs run for real: a runner thread moves each job Queued -> Starting -> Running -> Completed/Failed/Canceled, and
executes the uploaded code as an Azure ML command job would (``contract.run_bundle``'s contract, streaming): inputs downloaded from
Azurite into folders, ``${{inputs.x}}`` / ``${{outputs.y}}`` replaced by those folders, one process per device with
``WORLD_SIZE``/``RANK``/``MASTER_ADDR`` for ``PyTorch`` distribution, ``TF_CONFIG`` for ``TensorFlow``; outputs are
uploaded back to their datastore paths and the logs to ``user_logs/std_log_process_N.txt``.
Online deployments run the deployed ``score.py`` in a subprocess (``init()`` then ``run(raw_json)``, as Azure's
inference server does) with ``AZUREML_MODEL_DIR`` set to the downloaded model; the endpoint's scoring URI is
``{base}/score/{endpoint}`` and needs the endpoint key as a bearer token.

Faults: ``fail_next[(method, path_regex)] = [status, ...]`` answers the next matching requests with those statuses
(``503``, ``429``, ``401`` with an expired-token error, a quota refusal with ``409`` and an Azure quota message, or
``0``: the connection is reset with no answer).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from cloudml.packaging import safe_extract
from tests.rigs.contract import _DROP

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WORKSPACE_CONTAINER = "azureml-blobstore-cloudml"
ARTIFACT_CONTAINER = "azureml"
QUOTA_MESSAGE = ("Not enough quota available for {instance_type} in SubscriptionId {sub}. Current usage/limit: "
                 "0/0. Additional needed: 8. Please see troubleshooting guide: aka.ms/azureml-quota")
_WS = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/"
                 r"workspaces/([^/]+)(/.*)?$", re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_azurite() -> str | None:
    """``azurite-blob``: ``$CLOUDML_AZURITE`` (the executable or the npm prefix holding it), ``.azurite/`` in the
    repository (``npm install --prefix .azurite azurite@3.35.0``), or on ``PATH``."""
    repo = Path(__file__).resolve().parents[2]
    candidates = []
    if os.environ.get("CLOUDML_AZURITE"):
        given = Path(os.environ["CLOUDML_AZURITE"])
        candidates += [given, given / "node_modules" / ".bin" / "azurite-blob"]
    candidates.append(repo / ".azurite" / "node_modules" / ".bin" / "azurite-blob")
    on_path = shutil.which("azurite-blob")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return None


class Azurite:
    """The Azurite blob service on 127.0.0.1, in memory; ``stop()`` ends it."""

    def __init__(self, executable: str):
        self.executable = executable
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="cloudml-azurite-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.account_url};")

    def start(self, timeout: float = 30) -> Azurite:
        self.proc = subprocess.Popen(
            [self.executable, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--inMemoryPersistence",
             "--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose"],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azurite exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"azurite did not listen on 127.0.0.1:{self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def service(self):  # -> azure.storage.blob.BlobServiceClient
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def container_sas_url(self, container: str, hours: float = 2) -> str:
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        sas = generate_container_sas(ACCOUNT, container, account_key=ACCOUNT_KEY,
                                     permission=ContainerSasPermissions(read=True, write=True, list=True, add=True,
                                                                        create=True, delete=True),
                                     expiry=datetime.now(timezone.utc) + timedelta(hours=hours))
        return f"{self.account_url}/{container}?{sas}"

    def blob_sas_url(self, container: str, blob: str) -> str:
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        sas = generate_blob_sas(ACCOUNT, container, blob, account_key=ACCOUNT_KEY,
                                permission=BlobSasPermissions(read=True),
                                expiry=datetime.now(timezone.utc) + timedelta(hours=2))
        return f"{self.account_url}/{container}/{blob}?{sas}"

    # -- folder helpers -----------------------------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.service().create_container(container)
        except ResourceExistsError:
            pass

    def download_prefix(self, container: str, prefix: str, dest: str | Path) -> int:
        """Every blob under ``prefix`` -> ``dest`` keeping the relative layout; returns how many."""
        client = self.service().get_container_client(container)
        prefix = prefix.strip("/")
        count = 0
        for blob in client.list_blobs(name_starts_with=prefix):
            rel = blob.name[len(prefix):].lstrip("/") if prefix else blob.name
            if not rel:  # the prefix is a single file
                rel = os.path.basename(blob.name)
            target = Path(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.download_blob(blob.name).readall())
            count += 1
        return count

    def upload_folder(self, container: str, prefix: str, src: str | Path) -> int:
        self.ensure_container(container)
        client = self.service().get_container_client(container)
        count = 0
        for path in sorted(Path(src).rglob("*")):
            if path.is_file():
                name = f"{prefix.strip('/')}/{path.relative_to(src).as_posix()}"
                with open(path, "rb") as f:
                    client.upload_blob(name, f, overwrite=True)
                count += 1
        return count

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        try:
            return [b.name for b in self.service().get_container_client(container).list_blobs(name_starts_with=prefix)]
        except Exception:
            return []


# -- the fake control plane -------------------------------------------------------------------------------
def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


class FakeAzureML:
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

    # -- the job runner ----------------------------------------------------------------------------------------
    def _blob_location(self, uri: str) -> tuple[str, str]:
        """(container, prefix) in Azurite for an ``azureml://datastores/..`` or blob ``http(s)://`` URI."""
        m = re.match(r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?datastores/"
                     r"([^/]+)/paths/(.*)$", uri, re.IGNORECASE)
        if m:
            ds = self._datastore(m.group(1))["properties"]["containerName"] if m.group(1) in (
                "workspaceblobstore", "workspaceartifactstore") else m.group(1)
            return ds, m.group(2)
        u = urlparse(uri)
        path = unquote(u.path).lstrip("/")
        if path.startswith(ACCOUNT + "/"):
            path = path[len(ACCOUNT) + 1:]
        container, _, prefix = path.partition("/")
        return container, prefix

    def _set(self, name: str, status: str, error: str | None = None) -> bool:
        """Move a job on unless a cancel came first; returns False once the job is being canceled."""
        with self.lock:
            job = self.resources.get(f"/jobs/{name}".lower())
            if job is None:
                return False
            props = job["properties"]
            if props["status"] in ("CancelRequested", "Canceled") and status not in ("Canceled",):
                return False
            props["status"] = status
            if error:
                job["_error"] = error
            return True

    def _run_job(self, name: str) -> None:
        try:
            self._execute(name)
        except Exception as exc:  # the rig itself failed: show it as a system error on the job
            import traceback

            traceback.print_exc()
            self._set(name, "Failed", f"rig error: {type(exc).__name__}: {exc}")

    def _execute(self, name: str) -> None:
        if not self._set(name, "Queued"):
            self._set(name, "Canceled")
            return
        time.sleep(self.job_delay)
        if not self._set(name, "Starting"):
            self._set(name, "Canceled")
            return
        with self.lock:
            props = copy.deepcopy(self.resources[f"/jobs/{name}".lower()]["properties"])
        workdir = self.workdir / "jobs" / name
        workdir.mkdir(parents=True)
        self.job_dirs[name] = workdir
        code_rel = "/" + props["codeId"].split("/workspaces/", 1)[1].split("/", 1)[1]
        with self.lock:
            code_uri = self._get(code_rel)["properties"]["codeUri"]
        snapshot = workdir / "snapshot"
        container, prefix = self._blob_location(code_uri)
        self.azurite.download_prefix(container, prefix, snapshot)
        from cloudml.packaging import tar_dir

        bundle = tar_dir(snapshot, workdir / "code.tar.gz")
        subst: dict[str, str] = {}
        for iname, inp in (props.get("inputs") or {}).items():
            if inp.get("jobInputType") == "literal":
                subst[f"${{{{inputs.{iname}}}}}"] = str(inp.get("value"))
                continue
            local = workdir / "inputs" / iname
            c, p = self._blob_location(inp["uri"])
            self.azurite.download_prefix(c, p, local)
            if inp.get("jobInputType") == "uri_file":
                local = local / os.path.basename(p.rstrip("/"))
            subst[f"${{{{inputs.{iname}}}}}"] = str(local)
        outputs: dict[str, Path] = {}
        for oname, out in (props.get("outputs") or {}).items():
            local = workdir / "outputs" / oname
            local.mkdir(parents=True)
            c, p = self._blob_location(out["uri"])  # rw_mount shows what the path already holds
            self.azurite.download_prefix(c, p, local)
            outputs[oname] = local
            subst[f"${{{{outputs.{oname}}}}}"] = str(local)
        command = props.get("command") or ""
        for key, value in subst.items():
            command = command.replace(key, value)
        argv = shlex.split(command)
        base_env = {str(k): str(v) for k, v in (props.get("environmentVariables") or {}).items()}
        base_env.update({"AZUREML_RUN_ID": name, "AZUREML_ARM_WORKSPACE_NAME": self.workspace,
                         "AZUREML_ARM_RESOURCEGROUP": self.resource_group, "AZUREML_CR_NODE_COUNT": "1"})
        procs = self._process_envs(props, base_env)
        if not self._set(name, "Running"):
            self._set(name, "Canceled")
            return
        results: dict[int, Any] = {}
        single = len(procs) == 1

        def one(rank: int, env: dict[str, str]) -> None:
            log_blob = f"ExperimentRun/dcid.{name}/user_logs/" + ("std_log.txt" if single else f"std_log_process_{rank}.txt")
            if argv[:2] != ["python", "cloudml_launcher.py"]:
                text = f"the rig runs only 'python cloudml_launcher.py ...', got {command!r}\n"
                self._write_log(log_blob, text)
                results[rank] = (127, text)
                return
            results[rank] = self._run_streaming(name, bundle, workdir / f"process-{rank}", env, argv[2:], log_blob)

        threads = [threading.Thread(target=one, args=(rank, env), daemon=True) for rank, env in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for oname, local in outputs.items():
            c, p = self._blob_location(props["outputs"][oname]["uri"])
            self.azurite.upload_folder(c, p, local)
        with self.lock:
            canceled = self.resources[f"/jobs/{name}".lower()]["properties"]["status"] in ("CancelRequested", "Canceled")
        failed = {r: res for r, res in results.items() if res[0] != 0}
        if canceled:
            self._set(name, "Canceled")
        elif failed:
            rank, (code, output) = sorted(failed.items())[0]
            lines = [line for line in output.splitlines() if line.strip()]
            self._set(name, "Failed", f"Execution failed. User process 'python' exited with status code {code}. "
                                      f"Please check log file 'user_logs/std_log.txt' for error details. "
                                      f"Error: {lines[-1] if lines else ''}")
        else:
            self._set(name, "Completed")

    def _process_envs(self, props: dict[str, Any], base: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
        """One environment per process, as Azure ML starts them for the job's distribution."""
        nodes = int((props.get("resources") or {}).get("instanceCount") or 1)
        dist = props.get("distribution") or {}
        kind = (dist.get("distributionType") or "").lower()
        out: list[tuple[int, dict[str, str]]] = []
        if kind == "pytorch":
            ppn = int(dist.get("processCountPerInstance") or 1)
            port = str(free_port())
            for node in range(nodes):
                for local in range(ppn):
                    rank = node * ppn + local
                    out.append((rank, {**base, "WORLD_SIZE": str(nodes * ppn), "RANK": str(rank),
                                       "LOCAL_RANK": str(local), "NODE_RANK": str(node), "GROUP_RANK": str(node),
                                       "LOCAL_WORLD_SIZE": str(ppn), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
                                       "AZUREML_CR_NODE_COUNT": str(nodes)}))
        elif kind == "tensorflow":
            workers = int(dist.get("workerCount") or nodes)
            addrs = [f"127.0.0.1:{free_port()}" for _ in range(workers)]
            for i in range(workers):
                tf_config = {"cluster": {"worker": addrs}, "task": {"type": "worker", "index": i}, "environment": "cloud"}
                out.append((i, {**base, "TF_CONFIG": json.dumps(tf_config), "AZUREML_CR_NODE_COUNT": str(workers)}))
        else:
            out = [(node, dict(base)) for node in range(nodes)]
        return out

    def _write_log(self, blob: str, text: str) -> None:
        client = self.azurite.service().get_container_client(ARTIFACT_CONTAINER)
        client.upload_blob(blob, text.encode(), overwrite=True)

    def _run_streaming(self, job: str, bundle: Path, workdir: Path, env: dict[str, str], args: list[str],
                       log_blob: str) -> tuple[int, str]:
        """``contract.run_bundle``'s contract (extract, clean environment, ``python cloudml_launcher.py ARGS``), but
        streaming: the log blob is rewritten as lines arrive (at most every 0.3 s), as Azure ML appends to
        ``user_logs/``, and the process group can be killed by a cancel."""
        code_dir = workdir / "code"
        safe_extract(bundle, code_dir)
        (workdir / "tmp").mkdir()
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
        clean.update(env)
        clean["TMPDIR"] = str(workdir / "tmp")  # each Azure ML container has its own /tmp
        proc = subprocess.Popen([sys.executable, "cloudml_launcher.py", *args], cwd=code_dir, env=clean,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                start_new_session=True)
        with self.lock:
            self.job_procs.setdefault(job, []).append(proc)
            if self.resources[f"/jobs/{job}".lower()]["properties"]["status"] == "CancelRequested":
                os.killpg(proc.pid, 9)
        out: list[str] = []
        last = 0.0
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if time.time() - last > 0.3:
                self._write_log(log_blob, "".join(out))
                last = time.time()
        code = proc.wait()
        text = "".join(out)
        self._write_log(log_blob, text)
        return code, text

    def _kill_job(self, name: str) -> None:
        """End the process groups this rig started for ``name``."""
        with self.lock:
            procs = list(self.job_procs.get(name, []))
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    pass

    # -- online endpoints and deployments ------------------------------------------------------------------
    def _arm_onlineendpoints(self, method, parts, query, body):
        if len(parts) == 1:
            return 200, self._list("/onlineEndpoints", 1), {}
        name = parts[1]
        rel = f"/onlineEndpoints/{name}"
        if len(parts) == 2:
            if method in ("PUT", "PATCH"):
                existing = self.resources.get(rel.lower())
                if existing is not None:
                    merged = copy.deepcopy(existing)
                    for key in ("tags", "identity"):
                        if key in body:
                            merged[key] = body[key]
                    merged["properties"].update((body or {}).get("properties") or {})
                    merged["properties"]["provisioningState"] = "Succeeded"
                    self.resources[rel.lower()] = merged
                    return 200, merged, {}
                res = self._store(rel, name, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints", body)
                res["properties"].update({"provisioningState": "Succeeded", "scoringUri": f"{self.base_url}/score/{name}",
                                          "swaggerUri": f"{self.base_url}/score/{name}/swagger.json"})
                res["properties"].setdefault("traffic", {})
                res["_keys"] = {"primaryKey": base64.b64encode(os.urandom(24)).decode(),
                                "secondaryKey": base64.b64encode(os.urandom(24)).decode()}
                return 201, self._public(res), {}
            if method == "DELETE":
                if rel.lower() not in self.resources:
                    return 204, None, {}
                for key in [k for k in self.resources if k.startswith(rel.lower() + "/deployments/")]:
                    self._stop_scoring(key)
                    self.resources.pop(key)
                self.resources.pop(rel.lower())
                return 200, None, {}
            return 200, self._public(self._get(rel)), {}
        action = parts[2].lower()
        if action == "listkeys":
            return 200, dict(self._get(rel)["_keys"]), {}
        if action == "token":
            raise ArmError(400, "UserError", "endpoint uses key auth")
        if action != "deployments":
            raise ArmError(404, "NotFound", f"the fake does not serve {'/'.join(parts)}")
        self._get(rel)
        if len(parts) == 3:
            return 200, self._list(f"{rel}/deployments", 1), {}
        dname = parts[3]
        drel = f"{rel}/deployments/{dname}"
        if len(parts) == 5 and parts[4].lower() == "getlogs":
            return 200, {"content": self._get(drel).get("_logs", "")}, {}
        if method in ("PUT", "PATCH"):
            res = self._store(drel, dname, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments", body)
            res["properties"]["provisioningState"] = "Creating"
            res.setdefault("sku", {"name": "Default", "capacity": 1})
            res["properties"].setdefault("scaleSettings", {"scaleType": "Default"})
            t = threading.Thread(target=self._provision, args=(drel,), daemon=True, name=f"deploy-{dname}")
            self.threads.append(t)
            t.start()
            return 201, self._public(res), {"Retry-After": "1"}
        if method == "DELETE":
            if drel.lower() in self.resources:
                self._stop_scoring(drel.lower())
                self.resources.pop(drel.lower())
            return 200, None, {}
        return 200, self._public(self._get(drel)), {"Retry-After": "1"}

    @staticmethod
    def _public(res: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in res.items() if not k.startswith("_")}

    def _provision(self, drel: str) -> None:
        """Download the deployment's code and model, start its score.py, and report Succeeded or Failed."""
        key = drel.lower()
        with self.lock:
            props = copy.deepcopy(self.resources[key]["properties"])
        ddir = self.workdir / "deployments" / uuid.uuid4().hex[:8]
        try:
            cc = props.get("codeConfiguration") or {}
            code_rel = "/" + cc["codeId"].split("/workspaces/", 1)[1].split("/", 1)[1]
            with self.lock:
                code_uri = self._get(code_rel)["properties"]["codeUri"]
            c, p = self._blob_location(code_uri)
            self.azurite.download_prefix(c, p, ddir / "code")
            model_rel = "/" + props["model"].split("/workspaces/", 1)[1].split("/", 1)[1]
            with self.lock:
                model_uri = self._get(model_rel)["properties"]["modelUri"]
            c, p = self._blob_location(model_uri)
            model_root = ddir / "model"
            self.azurite.download_prefix(c, p, model_root / os.path.basename(p.rstrip("/")))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDML_", "AZURE", "SM_", "AIP_"))}
            env.update({str(k): str(v) for k, v in (props.get("environmentVariables") or {}).items()})
            env.update({"AZUREML_MODEL_DIR": str(model_root), "AML_APP_ROOT": str(ddir / "code"),
                        "AZUREML_ENTRY_SCRIPT": cc.get("scoringScript", "score.py")})
            log_path = ddir / "server.log"
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("azureml_scoring.py"))],
                cwd=ddir / "code", env=env, stdout=subprocess.PIPE, stderr=open(log_path, "wb"))
            with self.lock:
                self.processes[key] = [proc]
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            if not line:
                proc.wait()
                raise RuntimeError(f"score.py init() failed:\n{log_path.read_text()[-2000:]}")
            port = json.loads(line)["port"]
            with self.lock:
                self.deployment_ports[key] = port
                if key in self.resources:
                    self.resources[key]["properties"]["provisioningState"] = "Succeeded"
                    self.resources[key]["_logs"] = log_path.read_text()
        except Exception as exc:
            with self.lock:
                if key in self.resources:
                    self.resources[key]["properties"]["provisioningState"] = "Failed"
                    self.resources[key]["_logs"] = str(exc)
                    self.resources[key]["_error"] = str(exc)[-500:]

    def _stop_scoring(self, key: str) -> None:
        for proc in self.processes.pop(key, []):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.deployment_ports.pop(key, None)

    def _score(self, rest: str, raw: bytes, headers: dict[str, str]):
        endpoint = rest.split("/")[0]
        rel = f"/onlineEndpoints/{endpoint}".lower()
        with self.lock:
            ep = self.resources.get(rel)
            if ep is None:
                return 404, {"message": f"endpoint {endpoint} not found"}, {}
            keys = ep["_keys"].values()
            if headers.get("Authorization", "") not in {f"Bearer {k}" for k in keys}:
                return 401, {"message": "key auth failed"}, {}
            wanted = headers.get("azureml-model-deployment")
            traffic = ep["properties"].get("traffic") or {}
            if not wanted:
                live = [d for d, pct in traffic.items() if int(pct) > 0]
                if not live:
                    return 424, {"message": "no deployment has traffic"}, {}
                wanted = max(live, key=lambda d: int(traffic[d]))
            port = self.deployment_ports.get(f"{rel}/deployments/{wanted}".lower())
        if port is None:
            return 502, {"message": f"deployment {wanted} is not running"}, {}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/score", data=raw, method="POST",
                                     headers={"Content-Type": headers.get("Content-Type", "application/json")})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, resp.read(), {"Content-Type": resp.headers.get("Content-Type", "application/json"),
                                                  "azureml-model-deployment": wanted}
        except urllib.error.HTTPError as err:
            return err.code, err.read(), {"Content-Type": "application/json"}


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
