"""No local job process outlives its job (issue 14, "Orphans / hangs"), and ``max_run_seconds`` holds on local.

Each script records its own pid (and its children's) in ``PIDS_DIR``; the tests kill a part of the job from the
outside, as a user or the OOM killer would, and check from /proc that every recorded process is gone.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudml import Estimator
from cloudml.cli import main as cli_main
from cloudml.errors import JobStoppedError
from cloudml.providers.base import JobState

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SLEEPER = '''
import os, sys, time
pids = os.environ["PIDS_DIR"]
child = os.fork()
if child == 0:
    open(os.path.join(pids, "child"), "w").write(str(os.getpid()))
    time.sleep(300)
    os._exit(0)
open(os.path.join(pids, "script"), "w").write(str(os.getpid()))
print("sleeping", flush=True)
time.sleep(300)
'''

DAEMON = '''
import os, sys, time
pids = os.environ["PIDS_DIR"]
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("trained")
if os.fork() == 0:             # the classic double fork: setsid, fork again, chdir /, keep the inherited stdout
    os.setsid()
    if os.fork() == 0:
        os.chdir("/")
        open(os.path.join(pids, "daemon"), "w").write(str(os.getpid()))
        while True:
            print("daemon still here", flush=True)
            time.sleep(0.2)
    os._exit(0)
while not os.path.exists(os.path.join(pids, "daemon")):
    time.sleep(0.05)
print("script done", flush=True)
'''


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def recorded(pids: Path, *names: str, timeout: float = 60.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all((pids / n).exists() and (pids / n).read_text() for n in names):
            return {n: int((pids / n).read_text()) for n in names}
        time.sleep(0.05)
    raise AssertionError(f"the script never recorded {names}")


def gone(pids: dict[str, int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.05)
    left = {n: p for n, p in pids.items() if alive(p)}
    for p in left.values():  # do not leak them into the rest of the run
        os.kill(p, signal.SIGKILL)
    assert not left, f"still running after the job: {left}"


def start(tmp_path: Path, script: str, **kwargs) -> tuple[Estimator, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(script)
    pids = tmp_path / "pids"
    pids.mkdir()
    est = Estimator("train.py", src, provider="local", provider_options={"root": str(tmp_path / "root")},
                    environment={"PIDS_DIR": str(pids)}, **kwargs)
    return est, pids


def state(job) -> dict:
    return json.loads((Path(job.describe().extra["job_dir"]) / "state.json").read_text())


def test_a_daemon_the_script_forks_neither_keeps_the_job_running_nor_survives_it(tmp_path: Path) -> None:
    est, pids = start(tmp_path, DAEMON)
    began = time.monotonic()
    job = est.fit(logs=False)
    assert job.state == JobState.COMPLETED
    assert time.monotonic() - began < 30      # not held open by the daemon's copy of the output pipe
    gone(recorded(pids, "daemon"), timeout=5)


def test_killing_the_supervisor_leaves_no_launcher_and_no_script(tmp_path: Path) -> None:
    est, pids = start(tmp_path, SLEEPER)
    job = est.fit(wait=False)
    found = recorded(pids, "script", "child")
    launchers = state(job)["pgids"]
    os.kill(state(job)["pid"], signal.SIGKILL)
    gone({**found, **{f"launcher{i}": p for i, p in enumerate(launchers)}})
    info = job.describe()
    assert info.state == JobState.FAILED and "supervisor" in (info.reason or "")
    result = CliRunner().invoke(cli_main, ["jobs", "stop", job.name, "-p", "local", "-C",
                                           f"root={tmp_path / 'root'}"])
    assert result.exit_code == 0, result.output
    assert "already ended: Failed" in result.output and "supervisor" in result.output


def test_killing_the_launcher_leaves_no_script(tmp_path: Path) -> None:
    est, pids = start(tmp_path, SLEEPER)
    job = est.fit(wait=False)
    found = recorded(pids, "script", "child")
    (launcher,) = state(job)["pgids"]
    os.kill(launcher, signal.SIGKILL)
    gone(found)
    deadline = time.monotonic() + 30
    while not job.state.terminal and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.state == JobState.FAILED
    gone({"supervisor": state(job)["pid"]}, timeout=10)


def test_max_run_seconds_ends_the_job_stopped_with_no_process_left(tmp_path: Path) -> None:
    est, pids = start(tmp_path, SLEEPER, max_run_seconds=2)
    job = est.fit(wait=False)
    found = recorded(pids, "script", "child")
    with pytest.raises(JobStoppedError) as caught:
        job.wait(timeout=60, logs=False)
    assert "MaxRuntimeExceeded" in caught.value.reason
    info = job.describe()
    assert info.state == JobState.STOPPED and info.reason.startswith("MaxRuntimeExceeded")
    gone({**found, "supervisor": state(job)["pid"], **{f"l{i}": p for i, p in enumerate(state(job)["pgids"])}},
         timeout=10)


def test_stop_ends_every_process_of_a_two_node_job(tmp_path: Path) -> None:
    est, pids = start(tmp_path, SLEEPER.replace('"script"', 'os.environ["SM_CURRENT_HOST"]')
                      .replace('"child"', 'os.environ["SM_CURRENT_HOST"] + "-child"'), instance_count=2)
    job = est.fit(wait=False)
    found = recorded(pids, "algo-1", "algo-2", "algo-1-child", "algo-2-child")
    job.stop()
    with pytest.raises(JobStoppedError):
        job.wait(timeout=60, logs=False)
    gone(found, timeout=2)
