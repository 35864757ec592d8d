"""Small helpers for the Azure ML tests."""

from __future__ import annotations

import time


def wait(provider, name, timeout=120):
    """Poll ``describe_job`` and ``read_logs`` until the job ends; returns (JobInfo, every log line)."""
    cursor, lines = None, []
    deadline = time.time() + timeout
    info = None
    while time.time() < deadline:
        info = provider.describe_job(name)
        new, cursor = provider.read_logs(name, cursor)
        lines += new
        if info.state.terminal:
            new, cursor = provider.read_logs(name, cursor)
            return info, lines + new
        time.sleep(0.3)
    raise AssertionError(f"job {name} did not finish: {info}")
