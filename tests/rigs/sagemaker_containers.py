"""What runs inside the SageMaker rig's "containers": a training job's hosts (script mode, as the DLC toolkit runs
it) and an endpoint's model server. Used by ``tests/rigs/sagemaker.py``; see its docstring for the whole picture.

Both write their progress into moto's SageMaker backend (status, failure reason, billable seconds), the way
SageMaker's control plane would, and reach S3 and CloudWatch Logs over HTTP through the rig's unrecorded client.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.core.utils import utcnow

from cloudml.packaging import safe_extract, tar_dir
from tests.rigs.containers import container_python, in_namespace, kill_tree, private_mounts
from tests.rigs.contract import _DROP
from tests.rigs.sagemaker_toolkit import run_host, write_config

if TYPE_CHECKING:
    from tests.rigs.sagemaker import SageMakerRig

ACCOUNT = "123456789012"
REGION = "us-east-1"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sagemaker_backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION]


# -- training jobs --------------------------------------------------------------------------------------------
class JobRunner(threading.Thread):
    """Runs one CreateTrainingJob request the way SageMaker would: a fresh ``/opt/ml`` per host, the DLC's
    published training toolkit on each (``tests/rigs/sagemaker_toolkit.py``), then the model to S3."""

    def __init__(self, rig: SageMakerRig, request: dict[str, Any]):
        super().__init__(daemon=True, name=f"job-{request['TrainingJobName']}")
        self.rig = rig
        self.request = request
        self.name = request["TrainingJobName"]
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=rig.workdir))
        self.stop_requested = threading.Event()
        self.procs: list[subprocess.Popen[str]] = []

    def _set(self, **attrs: Any) -> None:
        job = sagemaker_backend().training_jobs.get(self.name)
        if job is not None:
            for key, value in attrs.items():
                setattr(job, key, value)
            job.last_modified_time = utcnow()

    def stop(self) -> None:
        self.stop_requested.set()
        self._set(training_job_status="Stopping", secondary_status="Stopping")
        self.kill()

    def kill(self) -> None:
        """End every host's process tree now (a stop, a spot interruption, the rig's reset)."""
        for proc in list(self.procs):
            if proc.poll() is None:
                kill_tree(proc)

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # the rig itself broke: fail the job visibly
            self._set(training_job_status="Failed", secondary_status="Failed",
                      failure_reason=f"RigError: {type(exc).__name__}: {exc}", training_end_time=utcnow())
            raise

    def _run_hosts(self, hosts: list[str], roots: dict[str, Path], env: dict[str, str],
                   streams: dict[str, LogStream], interrupt_at: str | None) -> dict[str, int | None] | None:
        """Run the toolkit on every host at once; ``None`` if a spot interruption (``interrupt_at`` seen in a
        line) cut the run short. A host that ran out of MaxRuntime has a ``None`` exit code."""
        results: dict[str, int | None] = {}
        interrupted = threading.Event()
        timeout = self.request["StoppingCondition"]["MaxRuntimeInSeconds"]

        def on_line(host: str, line: str) -> None:
            streams[host].add(line)
            if interrupt_at and interrupt_at in line and not interrupted.is_set():
                interrupted.set()
                threading.Thread(target=self.kill, daemon=True).start()

        def run_one(host: str) -> None:
            results[host] = run_host(roots[host], host, hosts, self.request, env, timeout=timeout,
                                     on_line=lambda line: on_line(host, line), procs=self.procs)

        threads = [threading.Thread(target=run_one, args=(h,), daemon=True) for h in hosts]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.2)
            for stream in streams.values():
                stream.flush()
        for stream in streams.values():
            stream.flush()
        return None if interrupted.is_set() else results

    def _lay_out(self, hosts: list[str], attempt: int, checkpoints: Path | None = None) -> dict[str, Path]:
        """A fresh ``/opt/ml`` per host (a new instance each attempt): channels, config, restored checkpoints."""
        req = self.request
        roots = {h: self.root / f"attempt-{attempt}" / h / "opt-ml" for h in hosts}
        checkpoint_uri = (req.get("CheckpointConfig") or {}).get("S3Uri")
        for host, root in roots.items():
            for channel in req.get("InputDataConfig") or []:
                uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
                self.rig.download_prefix(uri, root / "input" / "data" / channel["ChannelName"])
            write_config(root, host, hosts, req)
            if checkpoint_uri:
                self.rig.download_prefix(checkpoint_uri, root / "checkpoints")
        return roots

    def _run(self) -> None:
        req = self.request
        hosts = [f"algo-{i + 1}" for i in range(int(req["ResourceConfig"]["InstanceCount"]))]
        self._set(secondary_status="Downloading", training_start_time=utcnow())
        started = time.time()
        checkpoint_uri = (req.get("CheckpointConfig") or {}).get("S3Uri")
        attempt = 0
        roots = self._lay_out(hosts, attempt)
        self._set(secondary_status="Training")
        env = dict(req.get("Environment") or {})
        env.update({"TRAINING_JOB_NAME": self.name, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                    "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{self.name}",
                    "S3_ENDPOINT_URL": self.rig.url, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                    "CLOUDML_MASTER_PORT": str(free_port()),
                    "CLOUDML_WORKER_ADDRS": ",".join(f"127.0.0.1:{free_port()}" for _ in hosts)})
        stamp = int(started)
        streams = {h: LogStream(self.rig, f"{self.name}/{h}-{stamp}") for h in hosts}
        interrupt_at = self.rig.take_spot_interruption() if req.get("EnableManagedSpotTraining") else None
        while True:
            results = self._run_hosts(hosts, roots, env, streams, interrupt_at)
            if results is not None or self.stop_requested.is_set():
                break
            # a spot interruption: SageMaker saves /opt/ml/checkpoints, gets new capacity, restores them, reruns
            self._set(secondary_status="Interrupted")
            for root in roots.values():
                self.rig.upload_tree(root / "checkpoints", checkpoint_uri or "")
            self._set(secondary_status="Restarting")
            interrupt_at, attempt = None, attempt + 1
            roots = self._lay_out(hosts, attempt)
            self._set(secondary_status="Training")
        results = results or {h: None for h in hosts}
        elapsed = max(1, math.ceil(time.time() - started))
        self._set(secondary_status="Uploading")
        if checkpoint_uri:
            for root in roots.values():
                self.rig.upload_tree(root / "checkpoints", checkpoint_uri)
        done = {"training_end_time": utcnow(), "training_time_in_seconds": elapsed,
                "billable_time_in_seconds": elapsed}   # per instance, as AWS reports it
        if self.stop_requested.is_set():
            self._set(training_job_status="Stopped", secondary_status="Stopped", **done)
            return
        if any(results[h] is None for h in hosts):
            self._set(training_job_status="Stopped", secondary_status="MaxRuntimeExceeded", **done)
            return
        failed = [h for h in hosts if results[h] != 0]
        if failed:
            failure = roots[failed[0]] / "output" / "failure"
            text = failure.read_text().strip() if failure.is_file() else f"exit code {results[failed[0]]}"
            reason = text if text.startswith("AlgorithmError") else f"AlgorithmError: {text}"   # as SageMaker shows it
            self._set(training_job_status="Failed", secondary_status="Failed", failure_reason=reason[:1024], **done)
        else:
            out = req["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{self.name}/output/"
            root = roots[hosts[0]]
            self.rig.upload_file(tar_dir(root / "model", self.root / "model.tar.gz"), out + "model.tar.gz")
            if any((root / "output" / "data").rglob("*")):
                self.rig.upload_file(tar_dir(root / "output" / "data", self.root / "output.tar.gz"),
                                     out + "output.tar.gz")
            self._set(training_job_status="Completed", secondary_status="Completed", **done)


class LogStream:
    """One CloudWatch log stream that a host's output lines are published to as they arrive."""

    def __init__(self, rig: SageMakerRig, name: str):
        self.rig, self.name = rig, name
        self._lines: list[str] = []
        self._lock = threading.Lock()
        logs = rig.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=LOG_GROUP)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=name)

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        now = int(time.time() * 1000)
        for i in range(0, len(lines), 5000):
            self.rig.client("logs").put_log_events(
                logGroupName=LOG_GROUP, logStreamName=self.name,
                logEvents=[{"timestamp": now, "message": line or " "} for line in lines[i:i + 5000]])


# -- endpoints ------------------------------------------------------------------------------------------------
class EndpointContainer:
    """The inference container of one endpoint: the model.tar.gz at ``/opt/ml/model`` served by the PyTorch DLC's
    published handler chain (``sagemaker_model_server.py``); a TensorFlow Serving image by cloudml's adapter."""

    def __init__(self, rig: SageMakerRig, endpoint: str):
        self.rig = rig
        self.endpoint = endpoint
        self.root = Path(tempfile.mkdtemp(prefix=f"endpoint-{endpoint}-", dir=rig.workdir))
        self.proc: subprocess.Popen[str] | None = None
        self.port: int | None = None
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._start, daemon=True)
        self.thread.start()

    def _set(self, **attrs: Any) -> None:
        endpoint = sagemaker_backend().endpoints.get(self.endpoint)
        if endpoint is not None:
            for key, value in attrs.items():
                setattr(endpoint, key, value)
            endpoint.last_modified_time = utcnow()

    def _start(self) -> None:
        try:
            sm = self.rig.client("sagemaker")
            config_name = sm.describe_endpoint(EndpointName=self.endpoint)["EndpointConfigName"]
            variant = sm.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]
            container = sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
            env = container.get("Environment") or {}
            bucket, key = container["ModelDataUrl"][5:].split("/", 1)
            archive = self.root / "model.tar.gz"
            self.rig.client("s3").download_file(bucket, key, str(archive))
            root = self.root / "opt-ml"
            model_dir = root / "model"
            safe_extract(archive, model_dir)
            clean = {k: v for k, v in os.environ.items() if not k.startswith(_DROP) and k != "PYTHONPATH"}
            clean.update(env)
            if "pytorch-inference" in container["Image"]:   # the DLC's published handler chain
                python = container_python(self.root / "container", absent=("tensorflow", "keras"))
                clean["PATH"] = str(Path(python).parent) + os.pathsep + clean.get("PATH", "/usr/bin:/bin")
                cmd = [python, str(Path(__file__).with_name("sagemaker_model_server.py"))]
                if private_mounts("/opt/ml"):
                    cmd = in_namespace({str(root): "/opt/ml"}, cmd)
                else:
                    clean["SAGEMAKER_BASE_DIR"] = str(root)
            else:   # TensorFlow Serving has no published Python runtime: cloudml's adapter stands in for it
                cmd = [sys.executable, "-m", "cloudml.runtime.serving", "--model-dir", str(model_dir),
                       "--code-dir", str(model_dir / "code"), "--entry", env.get("SAGEMAKER_PROGRAM", "inference.py")]
                clean["PYTHONPATH"] = str(REPO_ROOT)
            log = open(self.root / "container.log", "w")
            with self.lock:
                if self.stopped:
                    return
                self.proc = subprocess.Popen(cmd, cwd=self.root, env=clean, stdout=subprocess.PIPE, stderr=log,
                                             text=True, start_new_session=True)
            assert self.proc.stdout is not None
            while True:   # what the handlers print before the server listens goes to the container log
                line = self.proc.stdout.readline()
                if not line:
                    self.proc.wait()
                    tail = (self.root / "container.log").read_text().strip().splitlines()[-5:]
                    raise RuntimeError("the model server exited: " + " | ".join(tail))
                if line.startswith('{"port"'):
                    break
                log.write(line)
                log.flush()
            self.port = int(json.loads(line)["port"])
            self._set(endpoint_status="InService")
        except Exception as exc:
            self._set(endpoint_status="Failed", failure_reason=f"{type(exc).__name__}: {exc}"[:1024])

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", "/invocations", body=body, headers={"Content-Type": content_type, "Accept": accept})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", "application/json"), resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        """End the model server, also when the endpoint is deleted while it is still starting."""
        with self.lock:
            self.stopped = True
        kill_tree(self.proc)
        self.thread.join(30)
        kill_tree(self.proc)
