"""Offline test rigs: one per provider (servers/fakes started and stopped by fixtures), plus the contract
runner that executes an uploaded bundle the way the provider's container would."""

from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen | None, grace: float = 10) -> None:
    """Terminate ``proc`` and wait; kill it if it has not gone after ``grace`` seconds."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
