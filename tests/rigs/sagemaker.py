"""The SageMaker rig: a moto server on 127.0.0.1 that behaves enough like AWS for cloudml's SageMaker provider,
and runs what cloudml submits for real.

boto3 talks HTTP to a ``ThreadedMotoServer`` whose WSGI app is wrapped by ``AwsEdge``, the test layer that adds
what moto lacks (nothing here changes cloudml):

* training jobs: moto marks a job ``Completed`` at once; the edge sets it ``InProgress`` and a ``JobRunner`` does
  what SageMaker does: it downloads the channels from (moto) S3, lays out ``/opt/ml`` under a temp root per host
  (``input/data/<channel>``, ``input/config/resourceconfig.json`` with hosts ``algo-1..N``,
  ``hyperparameters.json`` verbatim from the request), runs the DLC's published training toolkit on each host
  (``tests/rigs/sagemaker_toolkit.py``: it fetches ``sagemaker_submit_directory`` itself and runs
  ``sagemaker_program``; the real ``/opt/ml`` in a private mount namespace when the rig can), then writes ``model.tar.gz`` to
  ``{S3OutputPath}/{job}/output/``, syncs checkpoints, writes the output as CloudWatch log events to
  ``/aws/sagemaker/TrainingJobs`` and sets the status, ``FailureReason`` (the failure file) and billable seconds in
  moto's backend. Duplicate job names are refused as AWS does; ``StopTrainingJob`` (missing in moto) kills the run.
  moto drops ``Environment`` from CreateTrainingJob; the edge stores it so DescribeTrainingJob returns it.
  Log lines are published while the job runs; ``interrupt_spot(text)`` interrupts the next managed-spot job when
  a line contains ``text`` (checkpoints saved to and restored from S3, then the job runs again).
  The job's hosts and the endpoint's model server live in ``tests/rigs/sagemaker_containers.py``.
* endpoints: ``CreateEndpoint`` leaves the endpoint ``Creating`` while an ``EndpointContainer`` downloads the
  model's ``model.tar.gz`` and serves it with ``cloudml/runtime/serving.py`` in a subprocess (standing in for the
  inference image); ``InvokeEndpoint`` is answered by that process, so predictions come from the trained model.
* faults: ``fail(operation, code, status, times, after=False, delay=0, reset=False)`` answers the next requests of
  an operation with an AWS error (before, or with ``after=True`` instead of the response once moto has acted on
  the request), answers late (``delay``: a client read timeout), or drops the connection (``reset``).
* records: every request from cloudml (not the rig's own) with its service, operation and JSON body, and the bytes
  uploaded to S3 per key.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tests.rigs import ledger
from tests.rigs.sagemaker_containers import (
    ACCOUNT,
    REGION,
    EndpointContainer,
    JobRunner,
    sagemaker_backend,
)

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cloudml-rig"
BUCKET = "cloudml-rig"
RIG_HEADER = "x-cloudml-rig"
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/aws4_request")
_INVOKE = re.compile(r"^/endpoints/([^/]+)/invocations$")


def fake_aws_env() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


@dataclass
class Recorded:
    service: str
    operation: str
    body: Any
    path: str


@dataclass
class Fault:
    operation: str
    code: str
    status: int
    times: int
    after: bool = False
    message: str = ""
    delay: float = 0.0      # seconds to sleep after moto answered (a client read timeout)
    reset: bool = False     # drop the TCP connection (RST) instead of answering


# -- the edge in front of moto --------------------------------------------------------------------------------
class AwsEdge:
    """WSGI middleware: records, injects faults, and adds the behaviour moto lacks (see module docstring)."""

    def __init__(self, app: Any, rig: SageMakerRig):
        self.app = app
        self.rig = rig

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        stream = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = stream.read()
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = stream.read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    @staticmethod
    def identify(environ: dict[str, Any]) -> tuple[str, str]:
        m = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = m.group(1) if m else ""
        target = environ.get("HTTP_X_AMZ_TARGET")
        path, method, query = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
        if target:
            return service, target.rsplit(".", 1)[-1]
        if _INVOKE.match(path):
            return "sagemaker-runtime", "InvokeEndpoint"
        if service == "s3":
            if method == "PUT":
                return service, "UploadPart" if "partNumber=" in query else "PutObject"
            if method == "POST":
                return service, "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
            return service, {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)
        return service, f"{method} {path}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = self._read_body(environ)
        if environ.get("PATH_INFO", "").startswith("/moto-api/reset"):
            self.rig._clear()
            return self.app(environ, start_response)
        service, op = self.identify(environ)
        internal = environ.get("HTTP_" + RIG_HEADER.upper().replace("-", "_")) == "1"
        fault = None
        if not internal:
            self.rig._record(service, op, body, environ)
            fault = self.rig._take_fault(op)
            if fault and fault.reset and not fault.after:
                return self._reset(environ)
            if fault and not (fault.after or fault.delay):
                return self._error(start_response, service, fault.status, fault.code, fault.message)
        params = json.loads(body) if body and environ.get("HTTP_X_AMZ_TARGET") else {}
        early = self.rig._before(op, params, environ, body)
        if early is not None:
            status, headers, payload = early
        else:
            status, headers, payload = self._forward(environ)
            if status.startswith("200"):
                self.rig._after(op, params)
        if fault and fault.delay:
            time.sleep(fault.delay)
        elif fault and fault.reset:
            return self._reset(environ)
        elif fault:
            return self._error(start_response, service, fault.status, fault.code, fault.message)
        start_response(status, headers)
        return [payload]

    @staticmethod
    def _reset(environ: dict[str, Any]) -> list[bytes]:
        sock = environ["werkzeug.socket"]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        return []

    def _forward(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        result = self.app(environ, capture)
        try:
            payload = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return captured["status"], captured["headers"], payload

    @staticmethod
    def _error(start_response: Any, service: str, status: int, code: str, message: str) -> list[bytes]:
        reason = http.client.responses.get(status, "Error")
        if service == "s3":
            body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                    f"<Message>{message}</Message></Error>").encode()
            start_response(f"{status} {reason}", [("Content-Type", "application/xml"),
                                                  ("Content-Length", str(len(body)))])
            return [body]
        body = json.dumps({"__type": code, "message": message or code}).encode()
        start_response(f"{status} {reason}", [("Content-Type", "application/x-amz-json-1.1"),
                                              ("x-amzn-ErrorType", code), ("Content-Length", str(len(body)))])
        return [body]


def json_response(status: int, payload: dict[str, Any], error: str | None = None) -> tuple[str, list, bytes]:
    body = json.dumps(payload).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))]
    if error:
        headers.append(("x-amzn-ErrorType", error))
    return f"{status} {http.client.responses.get(status, 'Error')}", headers, body


# -- the rig --------------------------------------------------------------------------------------------------
class _EdgeServer(ThreadedMotoServer):
    """moto's threaded server with ``AwsEdge`` around its WSGI app."""

    def __init__(self, rig: SageMakerRig):
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.rig = rig

    def _server_entry(self) -> None:
        app = AwsEdge(DomainDispatcherApplication(create_backend_app), self.rig)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@dataclass
class SageMakerRig:
    workdir: Path
    requests: list[Recorded] = field(default_factory=list)
    uploaded: dict[str, int] = field(default_factory=dict)     # S3 key -> bytes received from cloudml
    faults: list[Fault] = field(default_factory=list)
    spot_interruptions: list[str] = field(default_factory=list)
    jobs: dict[str, JobRunner] = field(default_factory=dict)
    containers: dict[str, EndpointContainer] = field(default_factory=dict)
    started: list[EndpointContainer] = field(default_factory=list)   # every container, to stop them all

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _EdgeServer(self)
        self._clients: dict[str, Any] = {}
        self.url = ""

    # lifecycle
    def start(self) -> SageMakerRig:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)   # no line per request in test output
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._clear()
        self._server.stop()

    def reset(self) -> None:
        """Forget every AWS resource and every record (``POST /moto-api/reset``), then make the bucket."""
        conn = http.client.HTTPConnection(self.url[len("http://"):].split(":")[0], int(self.url.rsplit(":", 1)[1]))
        conn.request("POST", "/moto-api/reset")
        conn.getresponse().read()
        conn.close()
        self.client("s3").create_bucket(Bucket=BUCKET)

    def _clear(self) -> None:
        for runner in list(self.jobs.values()):
            runner.stop_requested.set()
            runner.kill()
        for runner in list(self.jobs.values()):
            runner.join(30)
        for container in [*self.containers.values(), *self.started]:
            container.stop()
        alive = [c.endpoint for c in self.started if c.proc is not None and c.proc.poll() is None]
        self.started.clear()
        assert not alive, f"model servers still running after the rig stopped them: {alive}"
        with self._lock:
            self.jobs.clear()
            self.containers.clear()
            self.requests.clear()
            self.uploaded.clear()
            self.faults.clear()
            self.spot_interruptions.clear()

    def provider_options(self, **overrides: Any) -> dict[str, Any]:
        options = {"region": REGION, "role_arn": ROLE_ARN, "bucket": BUCKET, "endpoint_url": self.url,
                   "poll_interval": 0.1, "max_poll_interval": 0.5, "deploy_timeout": 120}
        options.update(overrides)
        return options

    def client(self, service: str) -> Any:
        """A boto3 client for the rig's own calls (not recorded, never faulted)."""
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            client = boto3.session.Session(**{k.lower(): v for k, v in fake_aws_env().items()
                                              if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
                                           region_name=REGION).client(
                service, endpoint_url=self.url, config=Config(s3={"addressing_style": "path"}))

            def mark(request: Any, **_: Any) -> None:
                request.headers[RIG_HEADER] = "1"

            client.meta.events.register("before-send.*", mark)
            self._clients[service] = client
        return self._clients[service]

    # faults and records
    def fail(self, operation: str, code: str = "ThrottlingException", status: int = 400, times: int = 1,
             after: bool = False, message: str = "", delay: float = 0.0, reset: bool = False) -> None:
        """Answer the next ``times`` requests of ``operation`` with the AWS error ``code``/``status``; with
        ``after`` once moto has acted on them; with ``delay`` late (moto acted, the answer comes ``delay`` s
        later); with ``reset`` by dropping the connection (before moto, or after it with ``after``)."""
        with self._lock:
            self.faults.append(Fault(operation, code, status, times, after, message or f"injected {code}", delay,
                                     reset))

    def interrupt_spot(self, when_line_contains: str) -> None:
        """The next managed-spot job is interrupted once a log line contains ``when_line_contains``: its processes
        are killed, its checkpoints saved to and restored from the CheckpointConfig S3 URI, and it runs again."""
        with self._lock:
            self.spot_interruptions.append(when_line_contains)

    def take_spot_interruption(self) -> str | None:
        with self._lock:
            if not self.spot_interruptions:
                return None
            ledger.fault("sagemaker", "spot interruption")
            return self.spot_interruptions.pop(0)

    def _take_fault(self, op: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.operation == op and fault.times > 0:
                    fault.times -= 1
                    ledger.fault("sagemaker", fault.code)
                    return fault
        return None

    def _record(self, service: str, op: str, body: bytes, environ: dict[str, Any]) -> None:
        parsed: Any = body
        if environ.get("HTTP_X_AMZ_TARGET") and body:
            parsed = json.loads(body)
        with self._lock:
            self.requests.append(Recorded(service, op, parsed, environ.get("PATH_INFO", "")))
            if op in ("PutObject", "UploadPart"):
                key = environ.get("PATH_INFO", "").lstrip("/")
                self.uploaded[key] = self.uploaded.get(key, 0) + len(body)

    def sent(self, operation: str) -> list[Any]:
        """The bodies of every ``operation`` request cloudml sent."""
        return [r.body for r in self.requests if r.operation == operation]

    # behaviour moto lacks
    def _before(self, op: str, params: dict[str, Any], environ: dict[str, Any], body: bytes) -> Any:
        backend = sagemaker_backend()
        if op == "CreateTrainingJob" and params.get("TrainingJobName") in backend.training_jobs:
            name = params["TrainingJobName"]
            return json_response(400, {"__type": "ResourceInUse", "message": f"Training job names must be unique "
                                       f"within an AWS account and region, and a training job with this name "
                                       f"already exists (arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name})"},
                                 "ResourceInUse")
        if op == "StopTrainingJob":
            job = backend.training_jobs.get(params.get("TrainingJobName"))
            if job is None:
                return json_response(400, {"__type": "ValidationException",
                                           "message": "Requested resource not found."}, "ValidationException")
            if job.training_job_status != "InProgress":
                return json_response(400, {"__type": "ValidationException", "message": "The request was rejected "
                                           f"because the training job is in status {job.training_job_status}."},
                                     "ValidationException")
            self.jobs[job.training_job_name].stop()
            return json_response(200, {})
        if op == "InvokeEndpoint":
            name = _INVOKE.match(environ["PATH_INFO"]).group(1)  # type: ignore[union-attr]
            endpoint, container = backend.endpoints.get(name), self.containers.get(name)
            if endpoint is None or container is None or endpoint.endpoint_status != "InService":
                return json_response(400, {"__type": "ValidationError",
                                           "message": f"Endpoint {name} of account {ACCOUNT} not found."},
                                     "ValidationError")
            status, ctype, payload = container.invoke(body, environ.get("CONTENT_TYPE", "application/json"),
                                                      environ.get("HTTP_ACCEPT", "application/json"))
            if status != 200:
                text = payload.decode(errors="replace")
                return json_response(424, {"ErrorCode": "CLIENT_ERROR_FROM_MODEL" if status < 500 else
                                           "SERVER_ERROR_FROM_MODEL", "OriginalStatusCode": status,
                                           "OriginalMessage": text, "Message": f"Received client error ({status}) "
                                           f"from primary with message \"{text}\"."}, "ModelError")
            headers = [("Content-Type", ctype), ("Content-Length", str(len(payload))),
                       ("x-Amzn-Invoked-Production-Variant", "AllTraffic")]
            return "200 OK", headers, payload
        return None

    def _after(self, op: str, params: dict[str, Any]) -> None:
        if op == "CreateTrainingJob":
            name = params["TrainingJobName"]
            runner = JobRunner(self, params)
            self.jobs[name] = runner
            runner._set(training_job_status="InProgress", secondary_status="Starting",
                        environment=params.get("Environment") or {}, training_end_time=None)
            runner.start()
        elif op == "CreateEndpoint":
            name = params["EndpointName"]
            backend = sagemaker_backend()
            backend.endpoints[name].endpoint_status = "Creating"
            previous = self.containers.get(name)
            if previous:   # a create that was retried after going through: one container per endpoint
                previous.stop()
            self.containers[name] = EndpointContainer(self, name)
            self.started.append(self.containers[name])
        elif op == "DeleteEndpoint":
            container = self.containers.pop(params.get("EndpointName"), None)
            if container:
                container.stop()

    # S3 and logs helpers for the runners
    def download_prefix(self, uri: str, dest: Path) -> None:
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        s3 = self.client("s3")
        dest.mkdir(parents=True, exist_ok=True)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(target))

    def upload_file(self, path: Path, uri: str) -> None:
        bucket, _, key = uri[len("s3://"):].partition("/")
        self.client("s3").upload_file(str(path), bucket, key)

    def upload_tree(self, root: Path, uri: str) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.upload_file(path, uri.rstrip("/") + "/" + path.relative_to(root).as_posix())

    # the final orphan check
    def leftovers(self) -> dict[str, list[str]]:
        backend = sagemaker_backend()
        return {
            "endpoints": sorted(backend.endpoints),
            "endpoint_configs": sorted(backend.endpoint_configs),
            "models": sorted(backend._models),
            "running_jobs": sorted(n for n, j in backend.training_jobs.items()
                                   if j.training_job_status in ("InProgress", "Stopping")),
        }
