"""The local provider's job supervisor: one detached process per local job (its own session, so Ctrl-C in
the submitting process leaves the job running, as on a cloud service).

It plays the part of the managed service: lays out one ``/opt/ml``-style root per simulated node under
``<job>/nodes/algo-N`` (channels linked in, ``resourceconfig.json``, SageMaker-style ``hyperparameters.json``),
starts one launcher per node from the extracted bundle (nodes meet on 127.0.0.1), appends their output to
``<job>/logs.txt``, records the state in ``<job>/state.json``, and on success tars ``algo-1``'s model folder
into ``<job>/output/model.tar.gz``. SIGTERM (``stop_job``) stops every node and records ``Stopped``.

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

GRACE_SECONDS = 10


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
        json.dumps({"current_host": host, "hosts": hosts, "network_interface_name": "lo"}))
    # SageMaker writes every hyperparameter value as a JSON string; so does local.
    hps = {k: json.dumps(v) for k, v in job["hyperparameters"].items()}   # every value JSON, as SageMaker's SDK
    (node_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))


def _pump(proc: subprocess.Popen, log, prefix: str, lock: threading.Lock) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        with lock:
            log.write(prefix + line)
            log.flush()


def run(job_dir: Path) -> int:
    job = json.loads((job_dir / "job.json").read_text())
    stopping = threading.Event()
    procs: list[subprocess.Popen] = []

    def on_term(signum: int, frame: object) -> None:
        stopping.set()
        for p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    write_state(job_dir, state="Running", pid=os.getpid(), started_at=time.time())
    hosts = [f"algo-{i + 1}" for i in range(job["instance_count"])]
    master_port = free_port()
    worker_addrs = ",".join(f"127.0.0.1:{free_port()}" for _ in hosts)
    env = dict(os.environ)
    env.update(job["environment"])
    env.update({
        "CLOUDML_FRAMEWORK": job["framework"], "CLOUDML_DISTRIBUTION": job["distribution"],
        "CLOUDML_PROCESSES_PER_NODE": str(job["processes_per_node"]), "CLOUDML_VENV_CACHE": job["venv_cache"],
        "CLOUDML_NUM_GPUS": "0", "PYTHONUNBUFFERED": "1",
    })
    lock = threading.Lock()
    pumps = []
    with open(job_dir / "logs.txt", "a", buffering=1) as log:
        for host in hosts:
            node_root = job_dir / "nodes" / host
            _layout_node(node_root, host, hosts, job)
            cmd = [sys.executable, "cloudml_launcher.py", "--cloudml-provider", "local",
                   "--cloudml-root", str(node_root), "--cloudml-entry-point", job["entry_point"],
                   "--cloudml-current-host", host, "--cloudml-master-addr", "127.0.0.1",
                   "--cloudml-master-port", str(master_port), "--cloudml-worker-addrs", worker_addrs,
                   "--cloudml-checkpoint-dir", job["checkpoint_dir"]]
            proc = subprocess.Popen(cmd, cwd=job_dir / "code", env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace")
            procs.append(proc)
            prefix = f"[{host}] " if len(hosts) > 1 else ""
            t = threading.Thread(target=_pump, args=(proc, log, prefix, lock), daemon=True)
            t.start()
            pumps.append(t)
        first_failure: tuple[int, str] | None = None
        while any(p.poll() is None for p in procs):
            for i, p in enumerate(procs):
                code = p.poll()
                if code not in (None, 0) and first_failure is None and not stopping.is_set():
                    first_failure = (code, hosts[i])
                    deadline = time.time() + GRACE_SECONDS  # peers of a failed node may wait forever
                    threading.Thread(target=_kill_after, args=(procs, deadline), daemon=True).start()
            time.sleep(0.05)
        for t in pumps:
            t.join(timeout=60)  # every line is in logs.txt before the state turns terminal
    codes = [p.returncode for p in procs]
    ended = time.time()
    if stopping.is_set():
        write_state(job_dir, state="Stopped", ended_at=ended, reason="stopped on request")
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
    tar_dir(job_dir / "nodes" / hosts[0] / "model", model)
    write_state(job_dir, state="Completed", ended_at=ended, exit_code=0, model_uri=str(model))
    return 0


def _kill_after(procs: list[subprocess.Popen], deadline: float) -> None:
    while time.time() < deadline:
        if all(p.poll() is not None for p in procs):
            return
        time.sleep(0.1)
    for p in procs:
        if p.poll() is None:
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
