"""Issue 17: the session-end check counts processes too (tests/_process_leaks.py), also re-parented ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import _process_leaks

SLEEPER = "import time; time.sleep(60)"


def test_a_child_server_is_counted_until_it_is_stopped(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER, "-m", "cloudml_runtime.serving"])
    try:
        assert any(line.startswith(f"{proc.pid} ") for line in _process_leaks.leftovers(str(tmp_path)))
    finally:
        proc.kill()
        proc.wait()
    assert not any(line.startswith(f"{proc.pid} ") for line in _process_leaks.leftovers(str(tmp_path)))


def test_a_reparented_server_is_found_by_its_environment(tmp_path: Path) -> None:
    marker = str(tmp_path / "cache")
    pid_file = tmp_path / "pid"
    # the shell starts the server in the background and exits at once, as a `cloudml deploy` CLI child does
    subprocess.run(["sh", "-c", f'"{sys.executable}" -c "{SLEEPER}" cloudml_runtime.serving & echo $! > {pid_file}'],
                   env={**os.environ, "CLOUDML_CACHE_DIR": marker}, check=True)
    pid = int(pid_file.read_text())
    try:
        deadline = time.monotonic() + 10
        while not any(line.startswith(f"{pid} ") for line in _process_leaks.leftovers(marker)):
            assert time.monotonic() < deadline, "not found"
            time.sleep(0.1)
    finally:
        os.kill(pid, signal.SIGKILL)
    # the session's own servers (emulators of other tests) may be alive mid-session: only this one must be gone
    assert not any(line.startswith(f"{pid} ") for line in _process_leaks.settle(marker, seconds=5))
