"""Process lifecycle for the launcher and the local supervisor: no job process outlives its job. Stdlib only.

* ``guard_parent(sig)``: this process gets ``sig`` when its parent dies (Linux ``PR_SET_PDEATHSIG``);
* ``become_subreaper()``: orphaned descendants (daemons that double-fork and ``setsid``) are re-parented to this
  process instead of init, so ``descendants()`` still finds them (Linux ``PR_SET_CHILD_SUBREAPER``);
* ``descendants(pid)`` / ``kill_tree(pid)``: every process below ``pid`` (read from ``/proc``), killed children
  first, repeated until nothing is left (a dying process may still fork).
Elsewhere (no ``/proc``, no ``prctl``) these degrade to process-group kills; ``supported()`` says which.
"""

from __future__ import annotations

import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, arg: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def supported() -> bool:
    """True when parent-death signals and subreaping work here (Linux)."""
    return sys.platform.startswith("linux") and os.path.isdir("/proc/self")


def guard_parent(sig: int = signal.SIGTERM, expected_parent: int | None = None) -> None:
    """Ask the kernel to send ``sig`` when the parent exits; exit at once if it already has."""
    if _prctl(PR_SET_PDEATHSIG, int(sig)) and expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)


def child_guard() -> None:
    """``preexec_fn`` for a job's script: SIGKILL it when the launcher dies (works across ``exec``)."""
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))


def become_subreaper() -> bool:
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return kids
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[0] != "Z":
            kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    """Live (non-zombie) processes below ``pid``, deepest last."""
    kids = _children_map()
    out: list[int] = []
    todo = list(kids.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += kids.get(p, [])
    return out


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(pid: int, grace: float = 0.0, include_root: bool = False) -> None:
    """SIGTERM (then after ``grace`` seconds SIGKILL) every descendant of ``pid`` (and ``pid`` itself when
    ``include_root``), until none is left. Only this process's own descendants are ever touched."""
    def targets() -> list[int]:
        found = descendants(pid)
        return found + [pid] if include_root else found

    if grace > 0:
        for p in targets():
            _signal(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and targets():
            time.sleep(0.05)
    for _ in range(50):
        left = targets()
        if not left:
            return
        for p in left:
            _signal(p, signal.SIGKILL)
        time.sleep(0.02)
