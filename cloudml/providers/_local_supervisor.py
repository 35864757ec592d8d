"""The local provider's job supervisor: one detached process per local job (its own session, so Ctrl-C in
the submitting process leaves the job running, as on a cloud service).

It plays the part of the managed service: lays out one ``/opt/ml``-style root per simulated node under
``<job>/nodes/algo-N`` (channels linked in, ``resourceconfig.json``, ``inputdataconfig.json``, SageMaker-style
``hyperparameters.json``, ``checkpoints`` linked to the job's checkpoint folder), starts one launcher per node from
the extracted bundle (nodes meet on 127.0.0.1) — inside a private mount namespace where the machine allows it
(``_local_namespace``: the node root is the script's real ``/opt/ml`` and ``algo-N`` resolve) — appends their
output to ``<job>/logs.txt``, records the state in ``<job>/state.json``, and on success tars ``algo-1``'s model
folder into ``<job>/output/model.tar.gz`` (an empty one is flagged: ``state.json`` ``warning``).

Process lifecycle (no job process outlives the job): the supervisor is a child subreaper, so daemons the script
forks stay its descendants; each node's launcher runs in its own process group with a parent-death signal (the
supervisor killed -> the launchers stop their scripts); ``max_run_seconds`` ends the job ``Stopped``
(``MaxRuntimeExceeded``); SIGTERM (``stop_job``) stops every node and records ``Stopped``; whatever is left below
the supervisor when the job ends is killed.

Run as ``python -m cloudml.providers._local_supervisor JOB_DIR``. Imports no SDK, torch or TensorFlow.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from cloudml.packaging import tar_dir
from cloudml.providers import _local_namespace
from cloudml.runtime import procs as proctree

GRACE_SECONDS = 10
STOP_GRACE_SECONDS = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_state(job_dir: Path, **fields: object) -> None:
    path = job_dir / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    state.update(fields)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)


def _layout_node(node_root: Path, host: str, hosts: list[str], job: dict) -> None:
    for sub in ("model", "output/data", "input/config", "input/data"):
        (node_root / sub).mkdir(parents=True, exist_ok=True)
    checkpoints = node_root / "checkpoints"
    if not checkpoints.is_symlink() and not checkpoints.exists():
        Path(job["checkpoint_dir"]).mkdir(parents=True, exist_ok=True)
        checkpoints.symlink_to(Path(job["checkpoint_dir"]), target_is_directory=True)
    for name, path in job["channels"].items():
        link = node_root / "input" / "data" / name
        target = Path(path).resolve()
        if target.is_dir():
            if not link.exists():
                link.symlink_to(target, target_is_directory=True)
        else:
            link.mkdir(exist_ok=True)
            if not (link / target.name).exists():
                (link / target.name).symlink_to(target)
    (node_root / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": host, "hosts": hosts, "current_group_name": "homogeneousCluster",
                    "current_instance_type": "local", "network_interface_name": "lo",
                    "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": "local",
                                         "hosts": hosts}]}))
    (node_root / "input" / "config" / "inputdataconfig.json").write_text(json.dumps({
        name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for name in job["channels"]}))
    # SageMaker writes every hyperparameter value as a JSON string; so does local.
    hps = {k: json.dumps(v) for k, v in job["hyperparameters"].items()}   # every value JSON, as SageMaker's SDK
    (node_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))


def _pump(proc: subprocess.Popen, log, prefix: str, lock: threading.Lock) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        with lock:
            log.write(prefix + line)
            log.flush()


def _node_command(job_dir: Path, job: dict, host: str, hosts: list[str], ns: str | None,
                  master_port: int, worker_addrs: str) -> list[str]:
    node_root = job_dir / "nodes" / host
    root, checkpoints = (("/opt/ml", "/opt/ml/checkpoints") if ns else (str(node_root), job["checkpoint_dir"]))
    cmd = [sys.executable, "cloudml_launcher.py", "--cloudml-provider", "local",
           "--cloudml-root", root, "--cloudml-entry-point", job["entry_point"],
           "--cloudml-current-host", host, "--cloudml-master-addr", "127.0.0.1",
           "--cloudml-master-port", str(master_port), "--cloudml-worker-addrs", worker_addrs,
           "--cloudml-checkpoint-dir", checkpoints]
    if not ns:
        return cmd
    (job_dir / "ns").mkdir(exist_ok=True)
    spec = {"root": str(node_root), "scratch": str(job_dir / "ns" / host), "user_ns": ns == "userns",
            "hosts_file": str(_local_namespace.hosts_file(job_dir / "ns" / f"{host}.hosts", hosts))}
    spec_file = job_dir / "ns" / f"{host}.json"
    spec_file.write_text(json.dumps(spec))
    return [sys.executable, "-m", "cloudml.providers._local_namespace", str(spec_file), "--", *cmd]


def run(job_dir: Path) -> int:
    job = json.loads((job_dir / "job.json").read_text())
    stopping = threading.Event()
    why_stopped: list[str] = []
    procs: list[subprocess.Popen] = []
    proctree.become_subreaper()  # a daemon the script forks stays below us, so the end of the job finds it

    def stop(reason: str) -> None:
        if stopping.is_set():
            return
        why_stopped.append(reason)
        stopping.set()
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)   # the launcher stops its script, then exits
                except (ProcessLookupError, PermissionError):
                    pass
        threading.Thread(target=_kill_after, args=(procs, time.time() + STOP_GRACE_SECONDS), daemon=True).start()

    signal.signal(signal.SIGTERM, lambda signum, frame: stop("stopped on request"))
    signal.signal(signal.SIGINT, lambda signum, frame: stop("stopped on request"))
    started = time.time()
    write_state(job_dir, state="Running", pid=os.getpid(), started_at=started)
    hosts = [f"algo-{i + 1}" for i in range(job["instance_count"])]
    master_port = free_port()   # every job gets its own
    worker_addrs = ",".join(f"127.0.0.1:{free_port()}" for _ in hosts)
    ns = job.get("namespace")
    env = dict(os.environ)
    env.update(job["environment"])
    env.update({
        "CLOUDML_FRAMEWORK": job["framework"], "CLOUDML_DISTRIBUTION": job["distribution"],
        "CLOUDML_PROCESSES_PER_NODE": str(job["processes_per_node"]), "CLOUDML_VENV_CACHE": job["venv_cache"],
        "CLOUDML_NUM_GPUS": "0", "PYTHONUNBUFFERED": "1", "CLOUDML_GUARD_PARENT": "1",
    })
    max_run = job.get("max_run_seconds")
    lock = threading.Lock()
    pumps = []
    with open(job_dir / "logs.txt", "a", buffering=1) as log:
        for host in hosts:
            _layout_node(job_dir / "nodes" / host, host, hosts, job)
            cmd = _node_command(job_dir, job, host, hosts, ns, master_port, worker_addrs)
            # own process group per node (stop/kill reaches the launcher and its script); stdin closed
            proc = subprocess.Popen(cmd, cwd=job_dir / "code", env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                    errors="replace", start_new_session=True)
            procs.append(proc)
            prefix = f"[{host}] " if len(hosts) > 1 else ""
            t = threading.Thread(target=_pump, args=(proc, log, prefix, lock), daemon=True)
            t.start()
            pumps.append(t)
        write_state(job_dir, pgids=[p.pid for p in procs], namespace=ns)
        first_failure: tuple[int, str] | None = None
        while any(p.poll() is None for p in procs):
            for i, p in enumerate(procs):
                code = p.poll()
                if code not in (None, 0) and first_failure is None and not stopping.is_set():
                    first_failure = (code, hosts[i])
                    deadline = time.time() + GRACE_SECONDS  # peers of a failed node may wait forever
                    threading.Thread(target=_kill_after, args=(procs, deadline), daemon=True).start()
            if max_run and time.time() - started > max_run and not stopping.is_set():
                with lock:
                    log.write(f"[cloudml] MaxRuntimeExceeded: the job ran longer than max_run_seconds={max_run}; "
                              "stopping it\n")
                stop(f"MaxRuntimeExceeded: the job ran longer than max_run_seconds={max_run}")
            time.sleep(0.05)
        proctree.kill_tree(os.getpid(), grace=1.0)   # anything the nodes left behind (daemons re-parented here)
        for t in pumps:
            t.join(timeout=60)  # every line is in logs.txt before the state turns terminal
    codes = [p.returncode for p in procs]
    ended = time.time()
    if stopping.is_set():
        write_state(job_dir, state="Stopped", ended_at=ended, reason=why_stopped[0])
        return 0
    failed = [(c, h) for c, h in zip(codes, hosts, strict=True) if c != 0]
    if failed:
        code, host = first_failure or failed[0]
        failure = job_dir / "nodes" / host / "output" / "failure"
        reason = failure.read_text().splitlines()[0] if failure.exists() else f"exited with code {code}"
        write_state(job_dir, state="Failed", ended_at=ended, exit_code=code, reason=f"{host}: {reason}")
        return 0
    model = job_dir / "output" / "model.tar.gz"
    model.parent.mkdir(parents=True, exist_ok=True)
    model_dir = job_dir / "nodes" / hosts[0] / "model"
    tar_dir(model_dir, model)
    fields: dict[str, object] = {}
    if not any(p.is_file() for p in model_dir.rglob("*")):
        fields["warning"] = empty_model_warning(job_dir, hosts[0], started)
        with open(job_dir / "logs.txt", "a") as log:
            log.write(f"[cloudml] WARNING: {fields['warning']}\n")
    write_state(job_dir, state="Completed", ended_at=ended, exit_code=0, model_uri=str(model), **fields)
    return 0


def empty_model_warning(job_dir: Path, host: str, since: float, limit: int = 8) -> str:
    """Say that the model is empty and where the script's files went instead (newest first)."""
    node = job_dir / "nodes" / host
    places = [(job_dir / "code", "the working directory"), (node / "output", "/opt/ml/output")]
    written: list[tuple[float, str]] = []
    for base, label in places:
        for path in base.rglob("*"):
            if "cloudml_runtime" in path.parts or "__pycache__" in path.parts or path.is_symlink():
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file() and st.st_mtime >= since - 1 and path.name != "failure":
                written.append((st.st_mtime, f"{label}/{path.relative_to(base).as_posix()} ({path})"))
    written.sort(reverse=True)
    where = ("; the script wrote: " + ", ".join(w for _, w in written[:limit])
             + (f" and {len(written) - limit} more" if len(written) > limit else "")) if written else \
        "; the script wrote no file under its working directory or /opt/ml/output either"
    return ("the model artifact is EMPTY: the script saved nothing to its model directory "
            "(/opt/ml/model = SM_MODEL_DIR = CLOUDML_MODEL_DIR = AIP_MODEL_DIR, or ${{outputs.model}})" + where)


def _kill_after(procs: list[subprocess.Popen], deadline: float) -> None:
    while time.time() < deadline:
        if all(p.poll() is not None for p in procs):
            return
        time.sleep(0.1)
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                p.kill()


def main() -> None:
    job_dir = Path(sys.argv[1])
    try:
        sys.exit(run(job_dir))
    except Exception as exc:  # record why, so describe() reports it instead of a silent death
        write_state(job_dir, state="Failed", ended_at=time.time(), reason=f"local supervisor error: {exc!r}")
        raise


if __name__ == "__main__":
    main()
