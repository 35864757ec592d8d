"""What the fake Vertex runs: custom-job replicas and model-serving containers, as Vertex would.

``JobRun`` (one custom job): mirrors the GCS prefixes the job reads (code, channels, its base output directory,
its checkpoint directory) from the emulator into a temp dir that plays the ``/gcs`` mount — bind-mounted at the real
``/gcs`` in a private mount namespace per replica when the rig can (root + ``unshare``; see ``can_bind_gcs``), else
passed as ``CLOUDML_GCS_MOUNT`` — then runs the worker pools' real container ``command + args`` — one process per replica, all at once — with the
environment Vertex gives them: the container ``env``, ``AIP_MODEL_DIR`` / ``AIP_CHECKPOINT_DIR`` /
``AIP_TENSORBOARD_LOG_DIR`` under ``baseOutputDirectory``, ``CLUSTER_SPEC``, ``TF_CONFIG``, ``CLOUD_ML_JOB_ID``
(plus ``CLOUDML_MASTER_ADDR=127.0.0.1`` and a free ``CLOUDML_MASTER_PORT`` because the replicas share this host,
and ``STORAGE_EMULATOR_HOST`` so a script that writes to ``gs://`` with google-cloud-storage reaches the emulator).
Output lines become Cloud Logging entries; files the replicas wrote under the mount go back to the emulator (as
gcsfuse would have written them); the job ends SUCCEEDED, FAILED (Vertex's "non-zero status" message) or CANCELLED.
``FakeVertex.preempt(pattern)`` reclaims the "spot VMs" when a replica prints a matching line: the replicas are
killed and started again in the same job, with the same base output (and checkpoint) directory, as Vertex does.

``ModelServer`` (one deployed model): runs the model's container command with the variables Vertex gives a custom
container (``AIP_STORAGE_URI`` = the artifact URI, ``AIP_HTTP_PORT``, ``AIP_PREDICT_ROUTE`` / ``AIP_HEALTH_ROUTE``:
the model's routes or Vertex's defaults ``/v1/endpoints/E/deployedModels/D[:predict]``, ``AIP_MODE``,
``AIP_ENDPOINT_ID``, ``AIP_DEPLOYED_MODEL_ID`` ...) and ``STORAGE_EMULATOR_HOST``; a model without a command (a prebuilt TF prediction image)
is stood in for by cloudml's serving adapter over the downloaded artifact. ``predict`` posts to its predict route.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.rigs import ledger
from tests.rigs.containers import container_python, in_namespace, kill_tree, private_mounts
from tests.rigs.contract import _DROP
from tests.rigs.gcs import free_port, storage_client

if TYPE_CHECKING:
    from tests.rigs.vertex import FakeVertex

REPO = Path(__file__).resolve().parents[2]
CONTAINER_PATH = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")


def container_env(extra: dict[str, str]) -> dict[str, str]:
    """A clean environment (nothing of this test process leaks in) whose ``python`` is this venv's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP) and k != "STORAGE_EMULATOR_HOST"}
    env["PATH"] = CONTAINER_PATH
    env.update(extra)
    return env


_BIND: bool | None = None


def can_bind_gcs() -> bool:
    """True when replicas can see the mount at the real ``/gcs`` path: root, ``unshare -m`` works (a private
    mount namespace per replica, nothing visible outside it) and the empty mountpoint ``/gcs`` exists or can be
    made. Otherwise the rig falls back to ``CLOUDML_GCS_MOUNT`` (scripts that hard-code ``/gcs/`` then cannot run)."""
    global _BIND
    if _BIND is None:
        _BIND = False
        if os.environ.get("CLOUDML_RIG_NO_GCS_BIND") or os.geteuid() != 0 or not shutil.which("unshare"):
            return False
        try:
            os.makedirs("/gcs", exist_ok=True)
            probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /gcs"], capture_output=True,
                                   timeout=10)
            _BIND = probe.returncode == 0
        except (OSError, subprocess.SubprocessError):
            _BIND = False
    return _BIND


def _kill(proc: subprocess.Popen[Any]) -> None:
    """The replica's whole process tree, torchrun's workers (own sessions) included."""
    kill_tree(proc)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, path = uri[len("gs://"):].partition("/")
    return bucket, path


class JobRun(threading.Thread):
    def __init__(self, fake: FakeVertex, job_id: str):
        super().__init__(daemon=True, name=f"vertex-job-{job_id}")
        self.fake = fake
        self.job_id = job_id
        self.procs: list[subprocess.Popen[str]] = []
        self.cancelled = threading.Event()
        self.preempt_now = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()
        for proc in list(self.procs):
            _kill(proc)

    # -- GCS mount ----------------------------------------------------------------------------------------------
    def _mirror(self, client: Any, uri: str, mount: Path) -> None:
        bucket, prefix = _split(uri)
        for blob in client.list_blobs(bucket, prefix=prefix):
            if blob.name.endswith("/"):
                continue
            target = mount / bucket / blob.name
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target))

    @staticmethod
    def _snapshot(mount: Path) -> dict[Path, tuple[int, int]]:
        return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in mount.rglob("*") if p.is_file()}

    def _write_back(self, client: Any, mount: Path, before: dict[Path, tuple[int, int]]) -> None:
        for path, sig in self._snapshot(mount).items():
            if before.get(path) != sig:
                bucket, _, name = path.relative_to(mount).as_posix().partition("/")
                client.bucket(bucket).blob(name).upload_from_filename(str(path))

    # -- run ----------------------------------------------------------------------------------------------------
    def run(self) -> None:
        fake, jid = self.fake, self.job_id
        try:
            self._run()
        except Exception as exc:  # the rig itself failed: show it as an internal error, never hang
            fake.set_job(jid, state=5, endTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         error={"code": 13, "message": f"fake Vertex internal error: {type(exc).__name__}: {exc}"})

    def _run(self) -> None:
        from tests.rigs.vertex import now

        fake, jid = self.fake, self.job_id
        time.sleep(fake.pending_seconds)
        while not fake.release.wait(0.1):
            if self.cancelled.is_set():
                break
        if self.cancelled.is_set():
            fake.set_job(jid, state=7, endTime=now(), error={"code": 1, "message": "CANCELED"})
            return
        with fake.lock:
            stockout = fake.stockouts.pop(0) if fake.stockouts else None
            if stockout:
                ledger.fault("vertex", "RESOURCE_EXHAUSTED stockout")
        if stockout:
            fake.set_job(jid, state=5, endTime=now(), error={"code": 8, "message": stockout})
            return
        job = fake.state.jobs[jid]
        spec = job["jobSpec"]
        pools = spec["workerPoolSpecs"]
        base = spec["baseOutputDirectory"]["outputUriPrefix"].rstrip("/") + "/"
        fake.set_job(jid, state=3, startTime=now())
        work = Path(tempfile.mkdtemp(prefix=f"job{jid}-", dir=fake.workdir))
        mount = work / "gcs"
        mount.mkdir()
        gcs = storage_client(fake.storage_url)
        env0 = {e["name"]: e["value"] for e in pools[0]["containerSpec"].get("env", [])}
        reads = [env0.get("CLOUDML_CODE_URI", ""), base]
        reads += [v for k, v in env0.items() if k.startswith("CLOUDML_CHANNEL_")]
        command_text = " ".join(pools[0]["containerSpec"].get("command", []))
        reads += ["gs://" + m for m in re.findall(r'"\$mount"/\'?([^\'\s"]+)', command_text)]
        for uri in reads:
            if uri.startswith("gs://"):
                self._mirror(gcs, uri, mount)
        before = self._snapshot(mount)
        replicas = [(p, i) for p, pool in enumerate(pools) for i in range(int(pool.get("replicaCount", 1)))]
        cluster = {f"workerpool{p}": [f"workerpool{p}-{i}:2222" for pp, i in replicas if pp == p]
                   for p in range(len(pools))}
        tf_addr = {r: f"127.0.0.1:{free_port()}" for r in replicas}
        tf_cluster = {"chief": [tf_addr[replicas[0]]]}
        if len(replicas) > 1:
            tf_cluster["worker"] = [tf_addr[r] for r in replicas[1:]]
        master_port = str(free_port())
        timeout = float(str(spec.get("scheduling", {}).get("timeout", "604800s")).rstrip("s"))
        preemptions = 0
        while True:
            envs = []
            for p, i in replicas:
                container = pools[p]["containerSpec"]
                task = "chief" if (p, i) == replicas[0] else "worker"
                index = 0 if task == "chief" else replicas.index((p, i)) - 1
                env = container_env({e["name"]: e["value"] for e in container.get("env", [])})
                env.update({
                    "AIP_MODEL_DIR": base + "model/", "AIP_CHECKPOINT_DIR": base + "checkpoints/",
                    "AIP_TENSORBOARD_LOG_DIR": base + "logs/", "CLOUD_ML_JOB_ID": jid,
                    "CLUSTER_SPEC": json.dumps({"cluster": cluster, "environment": "cloud",
                                                "task": {"type": f"workerpool{p}", "index": i}}),
                    "TF_CONFIG": json.dumps({"cluster": tf_cluster, "environment": "cloud",
                                             "task": {"type": task, "index": index}}),
                    "STORAGE_EMULATOR_HOST": fake.storage_url,
                    "CLOUDML_MASTER_ADDR": "127.0.0.1",
                    "CLOUDML_MASTER_PORT": master_port,
                })
                if len(replicas) > 1:   # node-level PyTorch variables, as AI Platform set them; cloudml clears them
                    env.update({"WORLD_SIZE": str(len(replicas)), "RANK": str(replicas.index((p, i))),
                                "MASTER_ADDR": "workerpool0-0", "MASTER_PORT": "23456"})
                envs.append(env)
            readers = self._start(pools, replicas, envs, work / f"attempt{preemptions}", mount)
            deadline = time.monotonic() + timeout
            timed_out = False
            first_failure = None
            while any(proc.poll() is None for proc in self.procs):
                failed = [(r, p.returncode) for r, p in zip(replicas, self.procs, strict=True) if p.poll()]
                if failed and first_failure is None:
                    first_failure = failed[0]
                    deadline = min(deadline, time.monotonic() + 5)   # a replica failed: the job ends soon after
                if time.monotonic() > deadline or self.preempt_now.is_set():
                    timed_out = not self.preempt_now.is_set() and not any(p.returncode for p in self.procs)
                    for proc in self.procs:
                        _kill(proc)
                time.sleep(0.05)
            for t in readers:
                t.join(5)
            self._write_back(gcs, mount, before)
            before = self._snapshot(mount)
            if self.preempt_now.is_set() and not self.cancelled.is_set():
                # a spot VM was reclaimed: Vertex restarts the replicas of the same job (same base directory)
                preemptions += 1
                self.preempt_now.clear()
                fake.log(jid, "service", "Spot VM preempted; restarting the job's replicas")
                continue
            break
        codes = [proc.returncode for proc in self.procs]
        if self.cancelled.is_set():
            fake.set_job(jid, state=7, endTime=now(), error={"code": 1, "message": "CANCELED"})
        elif timed_out:
            fake.set_job(jid, state=5, endTime=now(),
                         error={"code": 4, "message": f"Job exceeded its timeout of {timeout:.0f}s."})
        elif any(codes):
            (p, i), code = first_failure or next(((r, c) for r, c in zip(replicas, codes, strict=True) if c))
            fake.set_job(jid, state=5, endTime=now(), error={
                "code": 3, "message": f"The replica workerpool{p}-{i} exited with a non-zero status of {code}. "
                                      "To find out more about why your job exited please check the logs."})
        else:
            fake.set_job(jid, state=4, endTime=now())

    def _start(self, pools: list[dict[str, Any]], replicas: list[tuple[int, int]], envs: list[dict[str, str]],
               work: Path, mount: Path) -> list[threading.Thread]:
        """Start one process per replica (all at once, as Vertex does); returns their output readers."""
        self.procs = []
        readers = []
        for (p, i), env in zip(replicas, envs, strict=True):
            container = pools[p]["containerSpec"]
            cwd = work / f"workerpool{p}-{i}"
            cwd.mkdir(parents=True)
            cmd = list(container.get("command", [])) + list(container.get("args", []))
            # the replica's own interpreter first on PATH: what its "python" pip-installs stays in it
            python = container_python(cwd / ".container")
            env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
            if can_bind_gcs():   # the container sees the mount where Vertex puts it, and its peers by name
                hosts = work / f"workerpool{p}-{i}.hosts"
                hosts.write_text("127.0.0.1 localhost\n" + "".join(
                    f"127.0.0.1 workerpool{q}-{j}\n" for q, j in replicas))
                binds = {str(mount): "/gcs", str(hosts): "/etc/hosts"}
                if private_mounts("/opt/ml"):   # the container's own (empty) /opt/ml, never the host's
                    (cwd / ".opt-ml").mkdir()
                    binds[str(cwd / ".opt-ml")] = "/opt/ml"
                else:
                    env["CLOUDML_OPT_ML"] = "0"
                cmd = in_namespace(binds, cmd, hostname=f"workerpool{p}-{i}")
            else:
                env["CLOUDML_GCS_MOUNT"] = str(mount)
                env["CLOUDML_OPT_ML"] = "0"
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace", start_new_session=True)
            self.procs.append(proc)
            t = threading.Thread(target=self._pump, args=(proc, f"workerpool{p}-{i}"), daemon=True)
            t.start()
            readers.append(t)
        return readers

    def _pump(self, proc: subprocess.Popen[str], task: str) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.fake.log(self.job_id, task, line)
            if self.fake.should_preempt(line):
                self.preempt_now.set()


class ModelServer:
    """One serving container for a deployed model."""

    def __init__(self, fake: FakeVertex, model: dict[str, Any], endpoint_id: str = "0", deployed_id: str = "0"):
        self.fake = fake
        self.model = model
        self.endpoint_id, self.deployed_id = endpoint_id, deployed_id
        self.proc: subprocess.Popen[str] | None = None
        self.port = free_port()
        self.output: list[str] = []
        spec = model.get("containerSpec", {})
        # Vertex's defaults when the model names no routes (custom-container requirements)
        default = f"/v1/endpoints/{endpoint_id}/deployedModels/{deployed_id}"
        self.predict_route = spec.get("predictRoute") or default + ":predict"
        self.health_route = spec.get("healthRoute") or default

    def start(self, timeout: float = 120) -> None:
        spec = self.model["containerSpec"]
        root = Path(tempfile.mkdtemp(prefix="serve-", dir=self.fake.workdir))
        env = container_env({e["name"]: e["value"] for e in spec.get("env", [])})
        env.update({"AIP_STORAGE_URI": self.model.get("artifactUri", ""), "AIP_HTTP_PORT": str(self.port),
                    "AIP_PREDICT_ROUTE": self.predict_route, "AIP_HEALTH_ROUTE": self.health_route,
                    "AIP_MODE": "PREDICTION", "AIP_MODE_VERSION": "1.0.0", "AIP_FRAMEWORK": "CUSTOM_CONTAINER",
                    "AIP_ENDPOINT_ID": self.endpoint_id, "AIP_DEPLOYED_MODEL_ID": self.deployed_id,
                    "AIP_MODEL_NAME": self.model.get("name", ""),
                    "STORAGE_EMULATOR_HOST": self.fake.storage_url, "CLOUDML_SERVING_ROOT": str(root)})
        if spec.get("command"):
            cmd = list(spec["command"]) + list(spec.get("args", []))
        else:  # a prebuilt TF Serving image: cloudml's adapter stands in for it over the same artifact
            client = storage_client(self.fake.storage_url)
            bucket, prefix = _split(self.model["artifactUri"])
            for blob in client.list_blobs(bucket, prefix=prefix):
                rel = blob.name[len(prefix):].lstrip("/")
                if rel and not rel.endswith("/"):
                    (root / "model" / rel).parent.mkdir(parents=True, exist_ok=True)
                    blob.download_to_filename(str(root / "model" / rel))
            env["PYTHONPATH"] = str(REPO)
            cmd = [sys.executable, "-m", "cloudml.runtime.serving", "--model-dir", str(root / "model"),
                   "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace", start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError(f"serving container exited with {self.proc.returncode}: "
                                   + " | ".join(self.output[-10:]))
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.health_route}", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("serving container did not answer its health route in time")

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))

    def predict(self, body: dict[str, Any]) -> tuple[int, str]:
        payload = {k: v for k, v in body.items() if k in ("instances", "parameters")}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{self.predict_route}",
                                         data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            _kill(self.proc)
            self.proc = None
