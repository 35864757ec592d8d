"""The fake Azure ML's online endpoints and deployments (a mixin of ``FakeAzureML``).

A deployment PUT answers ``Creating`` at once; a thread downloads the deployment's code and model from Azurite and
starts Azure ML's published scoring server (``azureml-inference-server-http``, in its own image venv:
``tests/rigs/azureml_inference_server.py``, ``tests/rigs/images.py``) on the deployment's scoring script with
``AZUREML_MODEL_DIR`` set, then reports ``Succeeded`` or ``Failed`` (with the log as ``getLogs`` content). The scoring
URI ``{base}/score/{endpoint}`` checks the endpoint key and forwards to the deployment holding the traffic.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.rigs._azureml_arm import ArmError
from tests.rigs.containers import kill_tree
from tests.rigs.gcs import free_port
from tests.rigs.images import image_python


def init_failure(log: str) -> str:
    """What Azure ML reports for a deployment whose scoring script failed to start: the end of the container log,
    and last the exception the script raised (the line the user needs, kept when the message is cut short)."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    error = ""
    if starts:
        after = [line for line in lines[starts[-1] + 1:] if line and not line[0].isspace()]
        error = after[0] if after else ""
    return "score.py init() failed (User container has crashed or terminated):\n" + "\n".join(lines[-20:]) + (
        f"\n{error}" if error else "")


def start_scoring_server(code: Path, entry: str, model_dir: Path, env: dict[str, str], log_path: Path,
                         on_start: Any = None, timeout: float = 120,
                         image: str = "azureml-inference") -> tuple[subprocess.Popen, int]:
    """Start Azure ML's published scoring server (in its image, ``tests/rigs/images.py``) on ``code/entry`` with
    ``AZUREML_MODEL_DIR=model_dir``; returns it and its port once ``init()`` has run (the liveness route answers).
    Raises ``RuntimeError`` with Azure's kind of message if the script's ``init()`` fails."""
    env = dict(env, AZUREML_MODEL_DIR=str(model_dir), AML_APP_ROOT=str(code))
    port = free_port()
    proc = subprocess.Popen(
        [image_python(image), str(Path(__file__).with_name("azureml_inference_server.py")),
         "--entry_script", entry, "--model_dir", str(model_dir), "--port", str(port)],
        cwd=code, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    if on_start:
        on_start(proc)
    deadline = time.monotonic() + timeout
    while True:   # the worker calls init() as it boots; the liveness route answers once it has
        if proc.poll() is not None:
            raise RuntimeError(init_failure(log_path.read_text()))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc, port
        except OSError:
            if time.monotonic() > deadline:
                kill_tree(proc)
                raise RuntimeError(f"the scoring server did not start in {timeout:.0f} s:\n"
                                   + log_path.read_text()[-2000:]) from None
            time.sleep(0.1)


class Endpoints:
    """Mixin: needs ``self.lock``, ``self.resources``, ``self.processes``, ``self.deployment_ports``,
    ``self.threads``, ``self._store``, ``self._get``, ``self._list`` and ``self._blob_location``."""

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
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("CLOUDML_", "AZURE", "SM_", "AIP_", "AML_")) and k != "PYTHONPATH"}
            env.update({str(k): str(v) for k, v in (props.get("environmentVariables") or {}).items()})
            log_path = ddir / "server.log"
            proc, port = start_scoring_server(ddir / "code", cc.get("scoringScript", "score.py"), model_root, env,
                                              log_path, on_start=lambda p: self.processes.__setitem__(key, [p]),
                                              image=self._inference_image(props))
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

    def _inference_image(self, props: dict[str, Any]) -> str:
        """The rig image playing the deployment's environment: TensorFlow's when the environment installs it."""
        env_id = str(props.get("environmentId") or "")
        try:
            rel = "/" + env_id.split("/workspaces/", 1)[1].split("/", 1)[1]
            with self.lock:
                text = json.dumps(self._get(rel))
        except (IndexError, KeyError, TypeError):
            text = env_id
        return "azureml-inference-tf" if "tensorflow" in text.lower() else "azureml-inference"

    def _stop_scoring(self, key: str) -> None:
        for proc in self.processes.pop(key, []):
            kill_tree(proc)   # gunicorn's master and its worker
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


