"""The ``local`` provider: runs bundles and serves models on this machine, the way a managed service would.

Invariants:
- everything lives under one root (option ``root``, env ``CLOUDML_LOCAL_ROOT``, default the user data dir):
  ``bundles/<sha256>.tar.gz`` (the "upload": copied once per content hash), ``jobs/<name>/`` (job.json, state.json,
  logs.txt, code/, nodes/algo-N/, output/model.tar.gz), ``endpoints/<name>/``, ``venvs/`` (requirements cache);
- a job runs in a detached supervisor process (``_local_supervisor``), so Ctrl-C in the caller leaves it running
  and ``attach`` works from another process; multi-node jobs are simulated by one launcher per node on 127.0.0.1;
- an endpoint is a real HTTP server (``cloudml_runtime.serving``) bound to 127.0.0.1 (``host`` option to change),
  in its own process, optionally protected by a bearer token; ``delete_endpoint`` stops it and removes its folder.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import cloudml
from cloudml import progress
from cloudml.errors import EndpointError, NotFoundError, ValidationError
from cloudml.packaging import Bundle, build, runtime_files, safe_extract
from cloudml.providers import _local_namespace
from cloudml.providers.base import EndpointInfo, EndpointState, Feature, JobInfo, JobState, Provider
from cloudml.spec import DeploySpec, TrainingSpec, local_path, uri_scheme

START_TIMEOUT = 120.0


def default_root() -> Path:
    if os.environ.get("CLOUDML_LOCAL_ROOT"):
        return Path(os.environ["CLOUDML_LOCAL_ROOT"])
    import platformdirs

    return Path(platformdirs.user_data_dir("cloudml")) / "local"


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _child_env() -> dict[str, str]:
    """The environment for helper processes: cloudml importable even when it is not installed."""
    env = dict(os.environ)
    pkg_parent = str(Path(cloudml.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    return env


def _spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen:
    """Start a detached process (own session) and reap it in the background so it never lingers as a zombie."""
    proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)
    threading.Thread(target=proc.wait, daemon=True).start()
    return proc


def _kill_group(pid: int | None, grace: float = 5.0) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _hard_codes_opt_ml(source_dir: Path, limit: int = 2000) -> str | None:
    """The first Python file under ``source_dir`` that names ``/opt/ml`` (relative path), or None."""
    for count, path in enumerate(sorted(source_dir.rglob("*.py"))):
        if count >= limit:
            break
        try:
            if b"/opt/ml" in path.read_bytes()[:1 << 20]:
                return path.relative_to(source_dir).as_posix()
        except OSError:
            continue
    return None


class LocalProvider(Provider):
    name = "local"
    storage_schemes: ClassVar[tuple[str, ...]] = ()
    unsupported: ClassVar[dict[Feature, str]] = {
        Feature.SPOT: "the local machine has no spot market",
        Feature.GPU: "no GPU on this machine: drop resources.accelerator to run on the CPU",
        Feature.TPU: "TPUs exist only on Vertex AI",
        Feature.AUTOSCALING: "a local endpoint is one server process; use min_replicas=1 and no max_replicas",
        Feature.PARAMETER_SERVER: "local simulates worker nodes only (no chief, ps or coordinator tasks); "
                                  "supported here: distribution='multi_worker_mirrored' for tensorflow, "
                                  "'ddp' for pytorch",
    }
    poll_interval = (0.05, 0.5)

    def __init__(self, root: str | os.PathLike[str] | None = None, host: str = "127.0.0.1",
                 venv_cache: str | os.PathLike[str] | None = None, **options: Any):
        super().__init__(root=root, host=host, venv_cache=venv_cache, **options)
        self.root = Path(root) if root else default_root()
        #: where requirements.txt environments are cached: option, ``CLOUDML_VENV_CACHE``, or ``<root>/venvs``
        cache = venv_cache or os.environ.get("CLOUDML_VENV_CACHE")
        self.venv_cache = Path(cache) if cache else self.root / "venvs"
        self.host = host
        self._connections: dict[str, http.client.HTTPConnection] = {}

    # -- paths --------------------------------------------------------------------------------------------
    def _job_dir(self, name: str) -> Path:
        return self.root / "jobs" / name

    def _endpoint_dir(self, name: str) -> Path:
        return self.root / "endpoints" / name

    def validate(self, spec: TrainingSpec) -> None:
        itype = spec.resources.instance_type
        if itype not in (None, "local", "local_cpu"):
            raise ValidationError("resources.instance_type", f"{itype!r} is not a local instance type",
                                  "use 'local' (or leave it unset) with provider='local'")
        hard_coded = _hard_codes_opt_ml(Path(spec.source.source_dir))
        if hard_coded:
            mode, why = _local_namespace.mode()
            if mode is None:
                raise ValidationError(
                    "source_dir", f"{hard_coded} hard-codes /opt/ml, which this machine cannot give a local job "
                    f"without writing to the host's own /opt/ml: {why}",
                    "run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
                    "/ user.max_user_namespaces > 0), or read SM_MODEL_DIR / SM_CHANNEL_<NAME> / SM_OUTPUT_DATA_DIR "
                    "instead of the fixed paths")

    # -- training -----------------------------------------------------------------------------------------
    def training_request(self, spec: TrainingSpec, bundle: Bundle) -> dict[str, Any]:
        """The ``job.json`` record ``submit`` writes, less its ``created_at`` stamp. Writes nothing."""
        assert spec.job_name, "the Estimator names every job"
        channels = {}
        for name, uri in spec.channels.items():
            if uri_scheme(uri) is not None:
                raise ValidationError(f"channels[{name!r}]", f"the local provider reads local paths, got {uri!r}")
            channels[name] = str(Path(local_path(uri)).resolve())
        job_dir = self._job_dir(spec.job_name)
        checkpoint = Path(local_path(spec.checkpoint_uri)) if spec.checkpoint_uri else job_dir / "checkpoints"
        return {
            "name": spec.job_name, "code_uri": str(self.root / "bundles" / bundle.name),
            "framework": spec.framework, "framework_version": spec.framework_version,
            "entry_point": spec.source.entry_point, "source_dir": str(Path(spec.source.source_dir).resolve()),
            "hyperparameters": dict(spec.hyperparameters), "environment": dict(spec.environment),
            "channels": channels, "instance_count": spec.instance_count,
            "processes_per_node": spec.processes_per_node or "auto", "distribution": spec.effective_distribution,
            "checkpoint_dir": str(checkpoint.resolve()), "venv_cache": str(self.venv_cache.resolve()),
            "tags": dict(spec.tags), "max_run_seconds": spec.max_run_seconds,
            # a private mount namespace per node where this machine allows it (the script's real /opt/ml)
            "namespace": _local_namespace.mode()[0],
        }

    def submit(self, spec: TrainingSpec, bundle: Bundle) -> JobInfo:
        assert spec.job_name, "the Estimator names every job"
        job_dir = self._job_dir(spec.job_name)
        if (job_dir / "job.json").exists():  # idempotent: the job already exists
            return self.describe_job(spec.job_name)
        record = {**self.training_request(spec, bundle), "created_at": time.time()}
        stored = self.root / "bundles" / bundle.name
        if not stored.exists():
            stored.parent.mkdir(parents=True, exist_ok=True)
            tmp = stored.with_suffix(f".{os.getpid()}.tmp")
            progress.copy_file(str(bundle.path), str(tmp), f"bundle {bundle.sha256[:12]}")
            os.replace(tmp, stored)
        tmp_dir = job_dir.with_name(job_dir.name + ".creating")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        safe_extract(stored, tmp_dir / "code")
        (tmp_dir / "job.json").write_text(json.dumps(record, indent=1))
        (tmp_dir / "state.json").write_text(json.dumps({"state": "Pending"}))
        os.replace(tmp_dir, job_dir)
        log = open(job_dir / "supervisor.log", "ab")
        proc = _spawn([sys.executable, "-m", "cloudml.providers._local_supervisor", str(job_dir)],
                      env=_child_env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        state = json.loads((job_dir / "state.json").read_text())
        if state.get("state") == "Pending":  # record the pid at once so stop() works before the first poll
            state["pid"] = proc.pid
            (job_dir / "state.json").write_text(json.dumps(state))
        return self.describe_job(spec.job_name)

    def describe_job(self, name: str) -> JobInfo:
        job_dir = self._job_dir(name)
        try:
            record = json.loads((job_dir / "job.json").read_text())
            state = json.loads((job_dir / "state.json").read_text())
        except FileNotFoundError:
            raise NotFoundError(f"no local job named {name!r} under {self.root}") from None
        except json.JSONDecodeError:  # caught mid-write: read again
            time.sleep(0.01)
            return self.describe_job(name)
        status = JobState(state.get("state", "Pending"))
        reason = state.get("reason")
        if not status.terminal:
            if (job_dir / "stop-requested").exists():
                status = JobState.STOPPING
            if state.get("pid") and not _pid_alive(state["pid"]):
                # the supervisor wrote nothing terminal before it vanished
                state = json.loads((job_dir / "state.json").read_text())
                status = JobState(state.get("state", "Pending"))
                if not status.terminal:
                    status, reason = JobState.FAILED, "the local supervisor process died (killed or crashed)"
        started, ended = state.get("started_at"), state.get("ended_at")
        billable = (ended or time.time()) - started if started else None
        return JobInfo(
            name=name, provider=self.name, state=status, reason=reason, exit_code=state.get("exit_code"),
            model_uri=state.get("model_uri"), code_uri=record["code_uri"], output_uri=str(job_dir / "output"),
            created_at=record["created_at"], started_at=started, ended_at=ended,
            billable_seconds=round(billable, 3) if billable is not None else None,
            instance_type="local", instance_count=record["instance_count"], region="local",
            framework=record["framework"], framework_version=record["framework_version"],
            entry_point=record["entry_point"], hyperparameters=record["hyperparameters"],
            extra={"job_dir": str(job_dir), "source_dir": record["source_dir"], "pid": state.get("pid"),
                   **({"warning": state["warning"]} if state.get("warning") else {}),
                   "outputs_dir": str(job_dir / "code" / "outputs"), "namespace": record.get("namespace"),
                   "processes_per_node": record["processes_per_node"], "distribution": record["distribution"],
                   "environment": record.get("environment") or {}},   # so log lines can mask secret values
        )

    def read_logs(self, name: str, cursor: Any = None) -> tuple[list[str], Any]:
        path = self._job_dir(name) / "logs.txt"
        offset = int(cursor or 0)
        if not path.exists():
            if not self._job_dir(name).exists():
                raise NotFoundError(f"no local job named {name!r}")
            return [], offset
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # complete lines only
        lines = data[:end].decode(errors="replace").splitlines()
        return lines, offset + end

    def stop_job(self, name: str) -> None:
        """Stop job ``name``; returns at once. A job whose supervisor died has its node process groups (if any
        are left) killed here, so nothing of it keeps running; it stays Failed with the supervisor's death."""
        info = self.describe_job(name)
        if info.state.terminal:
            path = self._job_dir(name) / "state.json"
            state = json.loads(path.read_text())
            if not JobState(state.get("state", "Pending")).terminal:   # its supervisor died mid-run
                for pgid in state.get("pgids") or []:
                    _kill_group(pgid, grace=1.0)
                state.update(state=JobState.FAILED.value, reason=info.reason, ended_at=time.time())
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, path)
            return
        (self._job_dir(name) / "stop-requested").touch()
        pid = info.extra.get("pid")
        if pid:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass

    def download_outputs(self, name: str, dest: str) -> str:
        """Copy job ``name``'s outputs into folder ``dest``: what the script wrote to its output data dir
        (``SM_OUTPUT_DATA_DIR`` on algo-1) plus ``outputs/`` and ``logs/`` (its ./outputs and ./logs)."""
        job_dir = self._job_dir(name)
        if not (job_dir / "job.json").exists():
            raise NotFoundError(f"no local job named {name!r} under {self.root}")
        out = Path(dest)
        out.mkdir(parents=True, exist_ok=True)
        for src, target in ((job_dir / "nodes" / "algo-1" / "output" / "data", out),
                            (job_dir / "code" / "outputs", out / "outputs"), (job_dir / "code" / "logs", out / "logs")):
            if src.is_dir():
                shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True)
        return str(out)

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        jobs_dir = self.root / "jobs"
        if not jobs_dir.exists():
            return []
        infos = [self.describe_job(d.name) for d in jobs_dir.iterdir() if (d / "job.json").exists()]
        return sorted(infos, key=lambda i: i.created_at or 0, reverse=True)[:limit]

    def download(self, uri: str, dest: str) -> str:
        src = Path(local_path(uri))
        if not src.exists():
            raise NotFoundError(f"{uri} does not exist")
        shutil.copyfile(src, dest)
        return dest

    # -- serving ------------------------------------------------------------------------------------------
    def deploy(self, spec: DeploySpec) -> EndpointInfo:
        name = spec.endpoint_name or f"endpoint-{secrets.token_hex(4)}"
        ep_dir = self._endpoint_dir(name)
        if (ep_dir / "endpoint.json").exists():
            raise ValidationError("endpoint_name", f"a local endpoint named {name!r} already exists",
                                  "delete it first or choose another name")
        model_file = Path(local_path(spec.model_uri))
        if not model_file.is_file():
            raise NotFoundError(f"model artifact {spec.model_uri} does not exist")
        try:
            return self._start_endpoint(name, ep_dir, model_file, spec)
        except BaseException:
            self.delete_endpoint(name)  # nothing half-created survives a failed deploy
            raise

    def _start_endpoint(self, name: str, ep_dir: Path, model_file: Path, spec: DeploySpec) -> EndpointInfo:
        from cloudml.runtime.launcher import prepare_python

        ep_dir.mkdir(parents=True)
        safe_extract(model_file, ep_dir / "model")
        if spec.source is not None:
            bundle = build(spec.source.source_dir, self.root / "bundles", ignore=spec.source.ignore,
                           allow_secrets=spec.source.allow_secrets)
            safe_extract(bundle.path, ep_dir / "code")
            entry = spec.source.entry_point
        else:
            shutil.copytree(ep_dir / "model" / "code", ep_dir / "code") if (ep_dir / "model" / "code").is_dir() \
                else (ep_dir / "code").mkdir()
            for rel, data in runtime_files().items():
                (ep_dir / "code" / rel).parent.mkdir(parents=True, exist_ok=True)
                (ep_dir / "code" / rel).write_bytes(data)
            entry = "inference.py"
        python = prepare_python(str(ep_dir / "code"), lambda line: None, cache=str(self.venv_cache))
        env = {**os.environ, **spec.environment, "PYTHONUNBUFFERED": "1"}
        env.pop("CLOUDML_ENDPOINT_TOKEN", None)
        if spec.auth_token:
            env["CLOUDML_ENDPOINT_TOKEN"] = spec.auth_token
        cmd = [python, "-m", "cloudml_runtime.serving", "--model-dir", str(ep_dir / "model"),
               "--code-dir", str(ep_dir / "code"), "--entry", entry, "--host", self.host, "--port", "0",
               "--port-file", str(ep_dir / "port.json")]
        if spec.ttl_seconds:
            cmd += ["--ttl", str(spec.ttl_seconds)]
        record: dict[str, Any] = {"name": name, "model_uri": spec.model_uri, "created_at": time.time(),
                                  "framework": spec.framework, "auth": bool(spec.auth_token),
                                  "ttl_seconds": spec.ttl_seconds}
        (ep_dir / "endpoint.json").write_text(json.dumps(record))
        with open(ep_dir / "server.log", "ab") as log:
            proc = _spawn(cmd, cwd=ep_dir / "code", env=env, stdout=log, stderr=subprocess.STDOUT)
        record["pid"] = proc.pid
        (ep_dir / "endpoint.json").write_text(json.dumps(record))
        deadline = time.monotonic() + START_TIMEOUT
        while not (ep_dir / "port.json").exists():
            if proc.poll() is not None or not _pid_alive(proc.pid):
                tail = (ep_dir / "server.log").read_text(errors="replace").splitlines()[-15:]
                raise EndpointError("the local model server exited while starting:\n" + "\n".join(tail))
            if time.monotonic() > deadline:
                raise EndpointError(f"the local model server did not start within {START_TIMEOUT:.0f}s")
            time.sleep(0.05)
        port = json.loads((ep_dir / "port.json").read_text())["port"]
        record["url"] = f"http://{self.host}:{port}"
        (ep_dir / "endpoint.json").write_text(json.dumps(record))
        return self.describe_endpoint(name)

    def describe_endpoint(self, name: str) -> EndpointInfo:
        try:
            record = json.loads((self._endpoint_dir(name) / "endpoint.json").read_text())
        except FileNotFoundError:
            raise NotFoundError(f"no local endpoint named {name!r}") from None
        alive = _pid_alive(record.get("pid"))
        state = EndpointState.IN_SERVICE if alive and record.get("url") else (
            EndpointState.CREATING if alive else EndpointState.FAILED)
        return EndpointInfo(name=name, provider=self.name, state=state, url=record.get("url"),
                            instance_type="local", model_uri=record["model_uri"], created_at=record["created_at"],
                            reason=None if alive else "the server process is not running",
                            extra={"pid": record.get("pid"), "auth": record.get("auth", False),
                                   "ttl_seconds": record.get("ttl_seconds")})

    def invoke(self, name: str, body: bytes, content_type: str = "application/json",
               accept: str = "application/json", token: str | None = None) -> bytes:
        info = self.describe_endpoint(name)
        if info.state != EndpointState.IN_SERVICE or not info.url:
            raise EndpointError(f"endpoint {name} is {info.state.value}: {info.reason or ''}".strip())
        headers = {"Content-Type": content_type, "Accept": accept}
        token = token or self.options.get("token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once on a new one
            conn = self._connections.get(name)
            if conn is None:
                url = urlsplit(info.url)
                conn = self._connections[name] = http.client.HTTPConnection(url.hostname or self.host, url.port, timeout=60)
            try:
                conn.request("POST", "/invocations", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                conn.close()
                self._connections.pop(name, None)
                if attempt == 2:
                    raise EndpointError(f"endpoint {name} did not answer: {exc}") from exc
                continue
            if resp.status != 200:
                raise EndpointError(f"endpoint {name} answered {resp.status}: {data.decode(errors='replace')[:500]}",
                                    status=resp.status)
            return data
        raise AssertionError("unreachable")

    def delete_endpoint(self, name: str) -> None:
        conn = self._connections.pop(name, None)
        if conn is not None:
            conn.close()
        ep_dir = self._endpoint_dir(name)
        try:
            record = json.loads((ep_dir / "endpoint.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            record = {}
        _kill_group(record.get("pid"))
        shutil.rmtree(ep_dir, ignore_errors=True)

    def list_endpoints(self) -> list[EndpointInfo]:
        ep_root = self.root / "endpoints"
        if not ep_root.exists():
            return []
        return [self.describe_endpoint(d.name) for d in sorted(ep_root.iterdir()) if (d / "endpoint.json").exists()]
