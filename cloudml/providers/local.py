"""The ``local`` provider: runs bundles and serves models on this machine, the way a managed service would.

Invariants:
- everything lives under one root (option ``root``, env ``CLOUDML_LOCAL_ROOT``, default the user data dir):
  ``bundles/<sha256>.tar.gz`` (the "upload": copied once per content hash), ``jobs/<name>/`` (job.json, state.json,
  logs.txt, code/, nodes/algo-N/, output/model.tar.gz), ``endpoints/<name>/``, ``venvs/`` (requirements cache);
- a job runs in a detached supervisor process (``_local_supervisor``), so Ctrl-C in the caller leaves it running
  and ``attach`` works from another process; multi-node jobs are simulated by one launcher per node on 127.0.0.1;
- an endpoint is a real HTTP server (``cloudml_runtime.serving``) bound to 127.0.0.1 (``host`` option to change),
  in its own process, optionally protected by a bearer token; ``delete_endpoint`` stops it and removes its folder;
- every name is checked (``names.check``) before a path is built from it, so no name reaches outside the root;
- records (``job.json``, ``state.json``, ``endpoint.json``) are written atomically (temporary file + rename),
  owner-only (folders 0700, files 0600; the supervisor runs with umask 077, so what it and the job write is too);
  a corrupt record is reported on its own job or endpoint (state Failed, the reason names the file), never fatal
  for the others, and ``delete_endpoint`` / ``cleanup`` still remove it;
- a job name is taken by renaming a fully built hidden folder into place: of two concurrent submits one makes the
  job; the other, like any later submit of that name, gets the job back if its spec is identical (idempotent) and
  a ``ValidationError`` naming ``job_name`` if it differs. No half-made folder is ever listed;
- ``invoke`` keeps one kept-alive connection per endpoint per thread, so one ``Endpoint`` can be shared by threads.
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
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
from cloudml.errors import CloudMLError, EndpointError, NotFoundError, ValidationError
from cloudml.packaging import Bundle, build, runtime_files, safe_extract
from cloudml.providers import _local_namespace
from cloudml.providers.base import EndpointInfo, EndpointState, Feature, JobInfo, JobState, Provider
from cloudml.spec import DeploySpec, TrainingSpec, local_path, uri_scheme

START_TIMEOUT = 120.0
log = logging.getLogger("cloudml.local")


class CorruptRecordError(CloudMLError, ValueError):
    """A local job or endpoint record that cannot be read (truncated, edited, not JSON)."""


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically (a unique temporary file in the same folder, then rename), 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``FileNotFoundError`` if absent, ``CorruptRecordError`` naming the file if it
    is not a JSON object (records are replaced atomically, so a bad one is damage, not a write in progress)."""
    data = path.read_bytes()
    try:
        record = json.loads(data)
    except ValueError as exc:
        raise CorruptRecordError(f"{path} is corrupt ({len(data)} bytes, {exc}); delete that folder, or restore the "
                                 "file") from None
    if not isinstance(record, dict):
        raise CorruptRecordError(f"{path} is corrupt (a JSON {type(record).__name__}, not an object)")
    return record


def _private_dir(path: Path) -> Path:
    """``path`` and its missing parents as owner-only folders."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


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
    """Start a detached process (own session, umask 077: what it writes is owner-only) and reap it in the
    background so it never lingers as a zombie."""
    proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL, umask=0o077, **kwargs)
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
        self._threads = threading.local()   # .connections: endpoint name -> this thread's HTTPConnection

    option_types: ClassVar[dict[str, tuple[type, ...]]] = {
        "root": (str, os.PathLike), "host": (str,), "venv_cache": (str, os.PathLike), "token": (str,)}

    # -- paths (every one built from a checked name) ------------------------------------------------------
    def _job_dir(self, name: str) -> Path:
        return self.root / "jobs" / self.check_name("job", name)

    def _endpoint_dir(self, name: str) -> Path:
        return self.root / "endpoints" / self.check_name("endpoint", name)

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

    def _same_job(self, name: str, record: dict[str, Any]) -> JobInfo:
        """The existing job ``name`` when it was submitted with ``record``; else ``ValidationError``."""
        job_dir = self._job_dir(name)
        stored = read_json(job_dir / "job.json")
        stored.pop("created_at", None)
        wanted = json.loads(json.dumps(record))
        diffs = []
        for k in sorted(set(stored) | set(wanted)):
            have, want = stored.get(k), wanted.get(k)
            if have == want:
                continue
            if isinstance(have, dict) and isinstance(want, dict):  # name the keys, never the values (secrets)
                keys = sorted(x for x in set(have) | set(want) if have.get(x) != want.get(x))
                k += "[" + ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else "") + "]"
            diffs.append(k)
        if diffs:
            raise ValidationError("job_name", f"a local job named {name!r} already exists with a different spec "
                                  f"({', '.join(diffs)} differ)",
                                  "choose another job_name, or leave it out for a unique one")
        return self.describe_job(name)

    def submit(self, spec: TrainingSpec, bundle: Bundle) -> JobInfo:
        """Create job ``spec.job_name`` once: the same name with the identical spec returns the existing job,
        with another spec raises ``ValidationError("job_name")`` (also for two submits racing for one name)."""
        name = self.check_name("job", spec.job_name, "job_name")
        job_dir = self._job_dir(name)
        record = self.training_request(spec, bundle)
        if (job_dir / "job.json").exists():
            return self._same_job(name, record)
        stored = self.root / "bundles" / bundle.name
        if not stored.exists():
            _private_dir(stored.parent)
            tmp = stored.with_name(f".{bundle.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            try:
                progress.copy_file(str(bundle.path), str(tmp), f"bundle {bundle.sha256[:12]}")
                os.replace(tmp, stored)
            finally:
                tmp.unlink(missing_ok=True)
        building = _private_dir(self.root / "jobs") / f".{name}.{secrets.token_hex(6)}.creating"
        try:
            building.mkdir(mode=0o700)
            safe_extract(stored, building / "code")
            write_json(building / "job.json", {**record, "created_at": time.time()})
            write_json(building / "state.json", {"state": "Pending"})
            for private in ("logs.txt", "supervisor.log"):
                os.close(os.open(building / private, os.O_WRONLY | os.O_CREAT, 0o600))
            try:
                os.rename(building, job_dir)  # atomic; fails if another submit took the name first
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                return self._same_job(name, record)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        with open(job_dir / "supervisor.log", "ab") as log_file:
            proc = _spawn([sys.executable, "-m", "cloudml.providers._local_supervisor", str(job_dir)],
                          env=_child_env(), stdout=log_file, stderr=subprocess.STDOUT)
        # so stop() works before the supervisor records itself (state.json is the supervisor's to write)
        write_json(job_dir / "supervisor.pid", {"pid": proc.pid})
        return self.describe_job(name)

    def _corrupt_job(self, name: str, exc: CorruptRecordError) -> JobInfo:
        return JobInfo(name=name, provider=self.name, state=JobState.FAILED, reason=str(exc),
                       extra={"job_dir": str(self.root / "jobs" / name), "corrupt": True})

    def describe_job(self, name: str) -> JobInfo:
        """The job's state; a corrupt record gives a ``Failed`` job whose reason names the file."""
        job_dir = self._job_dir(name)
        try:
            record = read_json(job_dir / "job.json")
            state = read_json(job_dir / "state.json")
        except FileNotFoundError:
            raise NotFoundError(f"no local job named {name!r} under {self.root}") from None
        except CorruptRecordError as exc:
            return self._corrupt_job(name, exc)
        missing = [k for k in ("code_uri", "created_at", "instance_count", "framework", "framework_version",
                               "entry_point", "hyperparameters", "source_dir") if k not in record]
        if missing or state.get("state", "Pending") not in {s.value for s in JobState}:
            why = f"lacks {', '.join(missing)}" if missing else f"has the unknown state {state.get('state')!r}"
            return self._corrupt_job(name, CorruptRecordError(f"{job_dir / 'job.json'} {why}"))
        if not state.get("pid"):
            try:
                state["pid"] = read_json(job_dir / "supervisor.pid").get("pid")
            except (OSError, CorruptRecordError):
                pass
        status = JobState(state.get("state", "Pending"))
        reason = state.get("reason")
        if not status.terminal:
            if (job_dir / "stop-requested").exists():
                status = JobState.STOPPING
            if state.get("pid") and not _pid_alive(state["pid"]):
                # the supervisor wrote nothing terminal before it vanished
                try:
                    state = {**state, **read_json(job_dir / "state.json")}
                except (OSError, CorruptRecordError):
                    pass
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
        infos = []
        for d in jobs_dir.iterdir():
            if d.name.startswith(".") or not (d / "job.json").exists():  # a submit still building its folder
                continue
            try:
                infos.append(self.describe_job(d.name))
            except ValidationError:   # a folder someone made by hand with a name cloudml never gives
                log.warning("skipped %s: not a job name cloudml makes", d)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("skipped the local job %s: %s", d.name, exc)
        return sorted(infos, key=lambda i: i.created_at or 0, reverse=True)[:limit]

    def download(self, uri: str, dest: str) -> str:
        src = Path(local_path(uri))
        if not src.exists():
            raise NotFoundError(f"{uri} does not exist")
        shutil.copyfile(src, dest)
        return dest

    # -- serving ------------------------------------------------------------------------------------------
    def deploy(self, spec: DeploySpec) -> EndpointInfo:
        name = self.check_name("endpoint", spec.endpoint_name or f"endpoint-{secrets.token_hex(4)}")
        ep_dir = self._endpoint_dir(name)
        model_file = Path(local_path(spec.model_uri))
        if not model_file.is_file():
            raise NotFoundError(f"model artifact {spec.model_uri} does not exist")
        try:
            _private_dir(ep_dir.parent)
            ep_dir.mkdir(mode=0o700)   # claims the name: of two deploys racing for it, one gets it
        except FileExistsError:
            raise ValidationError("endpoint_name", f"a local endpoint named {name!r} already exists",
                                  "delete it first or choose another name") from None
        try:
            return self._start_endpoint(name, ep_dir, model_file, spec)
        except BaseException:
            self.delete_endpoint(name)  # nothing half-created survives a failed deploy
            raise

    def _start_endpoint(self, name: str, ep_dir: Path, model_file: Path, spec: DeploySpec) -> EndpointInfo:
        from cloudml.runtime.launcher import prepare_python

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
        write_json(ep_dir / "endpoint.json", record)
        with open(ep_dir / "server.log", "ab") as server_log:
            proc = _spawn(cmd, cwd=ep_dir / "code", env=env, stdout=server_log, stderr=subprocess.STDOUT)
        record["pid"] = proc.pid
        write_json(ep_dir / "endpoint.json", record)
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
        write_json(ep_dir / "endpoint.json", record)
        return self.describe_endpoint(name)

    def describe_endpoint(self, name: str) -> EndpointInfo:
        try:
            record = read_json(self._endpoint_dir(name) / "endpoint.json")
        except FileNotFoundError:
            raise NotFoundError(f"no local endpoint named {name!r}") from None
        except CorruptRecordError as exc:
            return EndpointInfo(name=name, provider=self.name, state=EndpointState.FAILED, instance_type="local",
                                reason=f"{exc} (cloudml endpoints delete {name} -p local removes it)",
                                extra={"corrupt": True})
        alive = _pid_alive(record.get("pid"))
        state = EndpointState.IN_SERVICE if alive and record.get("url") else (
            EndpointState.CREATING if alive else EndpointState.FAILED)
        return EndpointInfo(name=name, provider=self.name, state=state, url=record.get("url"),
                            instance_type="local", model_uri=record.get("model_uri"), created_at=record.get("created_at"),
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
        connections: dict[str, http.client.HTTPConnection] = self._threads.__dict__.setdefault("connections", {})
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once on a new one
            conn = connections.get(name)
            if conn is None:
                url = urlsplit(info.url)
                conn = connections[name] = http.client.HTTPConnection(url.hostname or self.host, url.port, timeout=60)
            try:
                conn.request("POST", "/invocations", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                conn.close()
                connections.pop(name, None)
                if attempt == 2:
                    raise EndpointError(f"endpoint {name} did not answer: {exc}") from exc
                continue
            if resp.status != 200:
                raise EndpointError(f"endpoint {name} answered {resp.status}: {data.decode(errors='replace')[:500]}",
                                    status=resp.status)
            return data
        raise AssertionError("unreachable")

    def delete_endpoint(self, name: str) -> None:
        ep_dir = self._endpoint_dir(name)
        conn = self._threads.__dict__.get("connections", {}).pop(name, None)
        if conn is not None:
            conn.close()
        try:
            record = read_json(ep_dir / "endpoint.json")
        except (OSError, CorruptRecordError):
            record = {}
        _kill_group(record.get("pid"))
        shutil.rmtree(ep_dir, ignore_errors=True)

    def list_endpoints(self) -> list[EndpointInfo]:
        ep_root = self.root / "endpoints"
        if not ep_root.exists():
            return []
        infos = []
        for d in sorted(ep_root.iterdir()):
            if d.name.startswith(".") or not (d / "endpoint.json").exists():
                continue
            try:
                infos.append(self.describe_endpoint(d.name))
            except (ValidationError, OSError, KeyError) as exc:
                log.warning("skipped the local endpoint folder %s: %s", d, exc)
        return infos
