"""Processes a test session left running (issue 17): the session-end check counts these beside cloud resources.

A process belongs to this session when it descends from the pytest process, or when its environment carries the
session's ``CLOUDML_CACHE_DIR`` (a server spawned by a CLI child that has exited since is re-parented, but keeps
the environment it inherited). Only cloudml's own processes and the rigs' servers are looked for.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

#: command lines of what a test may start: jobs, supervisors and servers of the local provider, the rigs' emulators
MARKERS = re.compile(r"cloudml(_runtime)?[./]runtime|cloudml_runtime\.|_local_supervisor|cloudml\.providers\.|"
                     r"moto_server|azurite|gcp-storage-emulator|gcp_storage_emulator")


def _read(pid: str, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _parents() -> dict[str, str]:
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _read(pid, "stat").decode(errors="replace")
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and fields[0] != "Z":   # zombies are gone already
            out[pid] = fields[1]
    return out


def leftovers(marker_env: str) -> list[str]:
    """``pid command`` of every matching process of this session still alive (none on systems without /proc)."""
    if not os.path.isdir("/proc"):
        return []
    parents = _parents()
    me = str(os.getpid())
    needle = f"CLOUDML_CACHE_DIR={marker_env}\0".encode()
    found = []
    for pid in parents:
        if pid == me:
            continue
        cmd = _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
        if not cmd or not MARKERS.search(cmd):
            continue
        ancestor, mine = parents.get(pid), False
        while ancestor and ancestor not in ("0", "1"):
            if ancestor == me:
                mine = True
                break
            ancestor = parents.get(ancestor)
        if mine or needle in _read(pid, "environ"):
            found.append(f"{pid} {cmd[:200]}")
    return found


def settle(marker_env: str, seconds: float = 5.0) -> list[str]:
    """Leftovers after giving stopping processes ``seconds`` to exit."""
    deadline = time.monotonic() + seconds
    while True:
        found = leftovers(marker_env)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
