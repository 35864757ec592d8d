"""A fake Vertex AI REST server for tests (real HTTP on 127.0.0.1) that really runs what it is sent.

Speaks what the GAPIC v1 REST transport sends: camelCase JSON, enums as ints (``$alt=json;enum-encoding=int``),
int64 as strings, errors as ``{"error": {"code", "message", "status"}}``, long-running operations answered done.
Implements customJobs create/get/list/cancel/delete, models upload/get/list/delete, endpoints
create/get/list/delete/deployModel/undeployModel/predict, operations get, and Cloud Logging ``v2/entries:list``.

Custom jobs move QUEUED -> PENDING -> RUNNING -> SUCCEEDED / FAILED / CANCELLED while ``_vertex_runner`` executes
them as Vertex would (one process per replica, ``/gcs`` mount mapped to a temp dir synced with the GCS emulator).
``deployModel`` starts the model's serving container command (or, for a prebuilt TF prediction image, cloudml's
serving adapter in its place) on a free port and ``:predict`` forwards to it.

Tests shape faults with ``inject(...)`` and read ``requests`` (every call, in order) to assert what reached the wire.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.rigs import _vertex_runner as runner
from tests.rigs import ledger

JOB_STATES = {"QUEUED": 1, "PENDING": 2, "RUNNING": 3, "SUCCEEDED": 4, "FAILED": 5, "CANCELLING": 6,
              "CANCELLED": 7}
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."


def now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str | None = None):
        self.code, self.message, self.status = code, message, status or _STATUS.get(code, "UNKNOWN")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    code: int
    message: str
    status: str | None
    times: int
    after: bool          # perform the call, then answer with the error (a lost response)
    delay: float = 0.0   # sleep before answering (read timeouts)
    drop: bool = False   # close the connection without answering (a connection reset)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class State:
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _matches(resource: dict[str, Any], filt: str) -> bool:
    for clause in [c.strip() for c in re.split(r"\s+AND\s+", filt or "") if c.strip()]:
        m = re.fullmatch(r'(display_name|labels\.([\w-]+))\s*(=|:)\s*"?([^"]*)"?', clause)
        if not m:
            raise ApiError(400, f"unsupported filter {clause!r}")
        if m.group(1) == "display_name":
            if resource.get("displayName") != m.group(4):
                return False
        else:
            labels = resource.get("labels", {})
            if m.group(3) == ":" and m.group(4) == "*":
                if m.group(2) not in labels:
                    return False
            elif labels.get(m.group(2)) != m.group(4):
                return False
    return True


class FakeVertex:
    """The server. ``start()`` / ``stop()``; ``url`` is the api_endpoint to give the provider."""

    def __init__(self, storage_url: str, workdir: str, pending_seconds: float = 0.1):
        self.storage_url = storage_url
        self.workdir = workdir
        self.pending_seconds = pending_seconds
        self.state = State()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.release = threading.Event()   # cleared: new jobs stay PENDING until set
        self.release.set()
        self.lock = threading.RLock()
        self._ids = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None
        self.runs: dict[str, runner.JobRun] = {}
        self.preemptions: list[list[Any]] = []   # [compiled pattern, times left]
        self.stockouts: list[str] = []
        self.servers: dict[str, runner.ModelServer] = {}

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> FakeVertex:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self.reset()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Stop every job and model server, forget faults and requests (state is kept for leak checks)."""
        self.release.set()
        for run in list(self.runs.values()):
            run.cancel()
        for run in list(self.runs.values()):
            run.join(30)
        for server in list(self.servers.values()):
            server.stop()
        self.servers.clear()
        self.faults.clear()
        self.preemptions.clear()
        self.stockouts.clear()
        self.requests.clear()

    def inject(self, method: str, path: str, code: int = 503, message: str = "injected fault", *,
               status: str | None = None, times: int = 1, after: bool = False, delay: float = 0.0,
               drop: bool = False) -> None:
        """Answer the next ``times`` calls matching ``method`` and the ``path`` regex with an error (or, with
        ``drop``, by closing the connection)."""
        self.faults.append(Fault(method.upper(), re.compile(path), code, message, status, times, after, delay, drop))

    def preempt(self, line_pattern: str, times: int = 1) -> None:
        """Reclaim the spot VMs of the job whose replica prints a line matching ``line_pattern``."""
        self.preemptions.append([re.compile(line_pattern), times])

    def stockout(self, message: str, times: int = 1) -> None:
        """The next ``times`` jobs fail before starting with ``RESOURCE_EXHAUSTED`` (code 8) and ``message``."""
        self.stockouts.extend([message] * times)

    def should_preempt(self, line: str) -> bool:
        with self.lock:
            for entry in self.preemptions:
                if entry[1] > 0 and entry[0].search(line):
                    entry[1] -= 1
                    return True
        return False

    def calls(self, method: str, path_regex: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(path_regex, r.path)]

    def leftovers(self) -> dict[str, list[str]]:
        """What is still alive: running jobs, models and endpoints (for no-orphan checks)."""
        with self.lock:
            running = [j["name"] for j in self.state.jobs.values() if j["state"] in (1, 2, 3, 6)]
            return {"jobs": running, "models": list(self.state.models), "endpoints": list(self.state.endpoints)}

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        path = urllib.parse.unquote(parsed.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        self.requests.append(Request(h.command, path, query, body))
        fault = next((f for f in self.faults if f.method == h.command and f.path.search(path)), None)
        status, payload = 200, {}
        try:
            if fault is not None:
                ledger.fault("vertex", str(fault.status or fault.code))
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                time.sleep(fault.delay)
                if fault.after:
                    self._route(h.command, path, query, body)
                if fault.drop:
                    h.close_connection = True
                    h.connection.shutdown(socket.SHUT_RDWR)
                    return
                raise ApiError(fault.code, fault.message, fault.status)
            payload = self._route(h.command, path, query, body)
        except ApiError as exc:
            status, payload = exc.code, {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        if path == "/v2/entries:list" and method == "POST":
            return self._entries(body)
        m = re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+)/(customJobs|models|endpoints|operations)"
                         r"(?:/([^/:]+))?(?::(\w+))?", path)
        if not m:
            raise ApiError(404, f"no route for {method} {path}")
        parent, kind, rid, verb = m.groups()
        handler = getattr(self, f"_{kind}_{verb or method.lower()}" if rid or verb else f"_{kind}_{method.lower()}s",
                          None)
        if handler is None:
            raise ApiError(404, f"{method} {path} is not implemented by the fake")
        with self.lock:
            return handler(parent=parent, rid=rid, query=query, body=body)

    def _op(self, parent: str, response: dict[str, Any] | None, type_name: str) -> dict[str, Any]:
        name = f"{parent}/operations/{next(self._ids)}"
        op = {"name": name, "done": True,
              "response": {"@type": type_name, **(response or {})}}
        self.state.operations[name] = op
        return op

    @staticmethod
    def _page(items: list[dict[str, Any]], query: dict[str, str], key: str) -> dict[str, Any]:
        size = int(query.get("pageSize") or 100)
        start = int(query.get("pageToken") or 0)
        out: dict[str, Any] = {key: items[start:start + size]}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return out

    # -- custom jobs --------------------------------------------------------------------------------------------
    def _customJobs_posts(self, parent: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        job_id = str(next(self._ids))
        job = dict(body)
        job.update(name=f"{parent}/customJobs/{job_id}", state=JOB_STATES["PENDING"], createTime=now(),
                   updateTime=now())
        pools = job.get("jobSpec", {}).get("workerPoolSpecs", [])
        if not pools:
            raise ApiError(400, "jobSpec.workerPoolSpecs is required")
        for pool in pools:
            pool["replicaCount"] = str(pool.get("replicaCount", "1"))
        self.state.jobs[job_id] = job
        self.state.logs[job_id] = []
        self.runs[job_id] = runner.JobRun(self, job_id)
        self.runs[job_id].start()
        return job

    def _job(self, rid: str) -> dict[str, Any]:
        if rid not in self.state.jobs:
            raise ApiError(404, f"CustomJob {rid} not found")
        return self.state.jobs[rid]

    def _customJobs_get(self, rid: str, **_: Any) -> dict[str, Any]:
        return self._job(rid)

    def _customJobs_gets(self, query: dict[str, str], **_: Any) -> dict[str, Any]:
        jobs = [j for j in self.state.jobs.values() if _matches(j, query.get("filter", ""))]
        return self._page(jobs, query, "customJobs")

    def _customJobs_cancel(self, rid: str, **_: Any) -> dict[str, Any]:
        job = self._job(rid)
        if job["state"] in (4, 5, 7):
            raise ApiError(400, f"CustomJob {rid} is already in a terminal state", "FAILED_PRECONDITION")
        job["state"] = JOB_STATES["CANCELLING"]
        self.release.set()
        self.runs[rid].cancel()
        return {}

    def _customJobs_delete(self, parent: str, rid: str, **_: Any) -> dict[str, Any]:
        job = self._job(rid)
        if job["state"] in (1, 2, 3, 6):
            raise ApiError(400, "cannot delete a running job", "FAILED_PRECONDITION")
        del self.state.jobs[rid]
        return self._op(parent, None, "type.googleapis.com/google.protobuf.Empty")

    def set_job(self, job_id: str, **fields: Any) -> None:
        with self.lock:
            self.state.jobs[job_id].update(fields, updateTime=now())

    def log(self, job_id: str, task: str, line: str, timestamp: str | None = None) -> None:
        """Add a Cloud Logging entry; ``timestamp`` earlier than others models an entry ingested late."""
        with self.lock:
            entries = self.state.logs.setdefault(job_id, [])
            entries.append({
                "insertId": f"{job_id}-{len(entries)}", "timestamp": timestamp or now(), "textPayload": line,
                "logName": f"projects/test/logs/{task}", "severity": "INFO",
                "resource": {"type": "ml_job", "labels": {"job_id": job_id, "task_name": task}},
                "labels": {"ml.googleapis.com/task_name": task},
            })

    def _entries(self, body: dict[str, Any]) -> dict[str, Any]:
        filt = body.get("filter", "")
        job = re.search(r'resource\.labels\.job_id="(\d+)"', filt)
        after = re.search(r'timestamp>="([^"]+)"', filt)
        with self.lock:
            entries = list(self.state.logs.get(job.group(1), [])) if job else []
        if after:
            entries = [e for e in entries if e["timestamp"] >= after.group(1)]
        entries.sort(key=lambda e: e["timestamp"])
        return self._page(entries, {"pageSize": str(body.get("pageSize", 1000)),
                                    "pageToken": body.get("pageToken", "")}, "entries")

    # -- models -------------------------------------------------------------------------------------------------
    def _models_upload(self, parent: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        model_id = body.get("modelId") or str(next(self._ids))
        if model_id in self.state.models:
            raise ApiError(409, f"Model {model_id} already exists")
        model = dict(body["model"])
        if not model.get("artifactUri") or not model.get("containerSpec", {}).get("imageUri"):
            raise ApiError(400, "model.artifactUri and model.containerSpec.imageUri are required")
        model.update(name=f"{parent}/models/{model_id}", createTime=now(), versionId="1")
        self.state.models[model_id] = model
        return self._op(parent, {"model": model["name"]}, _TYPE + "UploadModelResponse")

    def _model(self, rid: str) -> dict[str, Any]:
        if rid not in self.state.models:
            raise ApiError(404, f"Model {rid} not found")
        return self.state.models[rid]

    def _models_get(self, rid: str, **_: Any) -> dict[str, Any]:
        return self._model(rid)

    def _models_gets(self, query: dict[str, str], **_: Any) -> dict[str, Any]:
        models = [m for m in self.state.models.values() if _matches(m, query.get("filter", ""))]
        return self._page(models, query, "models")

    def _models_delete(self, parent: str, rid: str, **_: Any) -> dict[str, Any]:
        model = self._model(rid)
        for ep in self.state.endpoints.values():
            if any(d["model"] == model["name"] for d in ep.get("deployedModels", [])):
                raise ApiError(400, f"Model {rid} is deployed to {ep['name']}; undeploy it first",
                               "FAILED_PRECONDITION")
        del self.state.models[rid]
        return self._op(parent, None, "type.googleapis.com/google.protobuf.Empty")

    # -- endpoints ----------------------------------------------------------------------------------------------
    def _endpoints_posts(self, parent: str, query: dict[str, str], body: dict[str, Any], **_: Any) -> dict[str, Any]:
        ep_id = query.get("endpointId") or str(next(self._ids))
        if ep_id in self.state.endpoints:
            raise ApiError(409, f"Endpoint {ep_id} already exists")
        ep = dict(body)
        ep.update(name=f"{parent}/endpoints/{ep_id}", createTime=now(), deployedModels=[], trafficSplit={})
        self.state.endpoints[ep_id] = ep
        return self._op(parent, ep, _TYPE + "Endpoint")

    def _endpoint(self, rid: str) -> dict[str, Any]:
        if rid not in self.state.endpoints:
            raise ApiError(404, f"Endpoint {rid} not found")
        return self.state.endpoints[rid]

    def _endpoints_get(self, rid: str, **_: Any) -> dict[str, Any]:
        return self._endpoint(rid)

    def _endpoints_gets(self, query: dict[str, str], **_: Any) -> dict[str, Any]:
        eps = [e for e in self.state.endpoints.values() if _matches(e, query.get("filter", ""))]
        return self._page(eps, query, "endpoints")

    def _endpoints_delete(self, parent: str, rid: str, **_: Any) -> dict[str, Any]:
        ep = self._endpoint(rid)
        if ep["deployedModels"]:
            raise ApiError(400, f"Endpoint {rid} has deployed models; undeploy them first", "FAILED_PRECONDITION")
        del self.state.endpoints[rid]
        return self._op(parent, None, "type.googleapis.com/google.protobuf.Empty")

    def _endpoints_deployModel(self, parent: str, rid: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        ep = self._endpoint(rid)
        deployed = dict(body["deployedModel"])
        model = self._model(deployed["model"].rsplit("/", 1)[-1])
        res = deployed.get("dedicatedResources") or {}
        if not res.get("machineSpec", {}).get("machineType") or int(res.get("minReplicaCount", 0)) < 1:
            raise ApiError(400, "dedicatedResources.machineSpec.machineType and minReplicaCount >= 1 are required")
        deployed.update(id=str(next(self._ids)), createTime=now())
        server = runner.ModelServer(self, model, endpoint_id=rid, deployed_id=deployed["id"])
        self.lock.release()   # starting the container takes seconds; let other calls through
        try:
            server.start()
        except RuntimeError as exc:
            raise ApiError(400, f"Model server never became ready: {exc}", "FAILED_PRECONDITION") from None
        finally:
            self.lock.acquire()
        self.servers[deployed["id"]] = server
        ep["deployedModels"].append(deployed)
        ep["trafficSplit"] = {deployed["id"]: 100}
        return self._op(parent, {"deployedModel": deployed}, _TYPE + "DeployModelResponse")

    def _endpoints_undeployModel(self, parent: str, rid: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        ep = self._endpoint(rid)
        did = body.get("deployedModelId")
        if not any(d["id"] == did for d in ep["deployedModels"]):
            raise ApiError(404, f"DeployedModel {did} not found on {rid}")
        ep["deployedModels"] = [d for d in ep["deployedModels"] if d["id"] != did]
        ep["trafficSplit"] = {}
        server = self.servers.pop(did, None)
        if server:
            server.stop()
        return self._op(parent, {}, _TYPE + "UndeployModelResponse")

    def _endpoints_predict(self, rid: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        ep = self._endpoint(rid)
        if not ep["deployedModels"]:
            raise ApiError(400, f"Endpoint {rid} has no deployed model", "FAILED_PRECONDITION")
        deployed = ep["deployedModels"][0]
        server = self.servers[deployed["id"]]
        self.lock.release()   # prediction may be slow; let other calls through
        try:
            status, text = server.predict(body)
        finally:
            self.lock.acquire()
        if status >= 400:
            raise ApiError(400 if status < 500 else 500, f"prediction container answered {status}: {text}")
        try:
            result = json.loads(text)
        except ValueError:
            raise ApiError(500, f"prediction container answered non-JSON: {text[:200]}") from None
        # Vertex's envelope: the container answers {"predictions": [...]} (a JSON array), Vertex adds the ids
        if not isinstance(result, dict) or not isinstance(result.get("predictions"), list):
            raise ApiError(500, "the prediction container must answer a JSON object whose 'predictions' is a list")
        return {"predictions": result["predictions"], "deployedModelId": deployed["id"],
                "model": deployed["model"], "modelDisplayName": deployed.get("displayName", ""),
                "modelVersionId": "1"}

    # -- operations ---------------------------------------------------------------------------------------------
    def _operations_get(self, parent: str, rid: str, **_: Any) -> dict[str, Any]:
        name = f"{parent}/operations/{rid}"
        if name not in self.state.operations:
            raise ApiError(404, f"operation {name} not found")
        return self.state.operations[name]
