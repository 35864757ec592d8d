"""Contract execution shared by every rig: run a bundle's launcher as a provider's container would.

A rig downloads the bundle cloudml uploaded, calls ``run_bundle`` with the layout and environment that
provider's container has, then stores the model where the provider would. This proves packaging and the
runtime contract end to end on real bytes, without the cloud.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudml.packaging import safe_extract

# Variables a container would never inherit from this test process.
_DROP = ("CLOUDML_", "SM_", "AIP_", "AWS_", "GOOGLE_", "AZURE_", "TF_CONFIG", "CLUSTER_SPEC", "WORLD_SIZE",
         "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class ContractRun:
    returncode: int
    output: str
    code_dir: Path


def run_bundle(bundle: str | os.PathLike[str], workdir: str | os.PathLike[str], *, env: Mapping[str, str],
               args: Sequence[str] = (), timeout: float = 300,
               on_line: Callable[[str], None] | None = None) -> ContractRun:
    """Extract ``bundle`` into ``workdir/code`` and run ``python cloudml_launcher.py ARGS`` there with a clean
    environment plus ``env``. Returns the exit code and the combined output. ``on_line`` (optional) is called
    with each output line as it is printed, so a rig can publish logs while the job runs.
    Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the process is killed)."""
    code_dir = Path(workdir) / "code"
    safe_extract(bundle, code_dir)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    clean.update(env)
    cmd = [sys.executable, "cloudml_launcher.py", *args]
    if on_line is None:
        proc = subprocess.run(cmd, cwd=code_dir, env=clean, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        return ContractRun(proc.returncode, proc.stdout, code_dir)
    popen = subprocess.Popen(cmd, cwd=code_dir, env=clean, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, errors="replace", bufsize=1)
    timer = threading.Timer(timeout, popen.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))
        popen.wait()
    finally:
        timed_out = timer.finished.is_set()   # set before cancel() only if the timer fired
        timer.cancel()
    if timed_out:
        raise subprocess.TimeoutExpired(cmd, timeout, "".join(lines))
    return ContractRun(popen.returncode, "".join(lines), code_dir)
