"""What every rig needs to play a platform's container on this host: a private mount namespace (the fixed
paths the platform's own runtime code reads, e.g. ``/opt/ml`` or ``/gcs``), a container interpreter that is not
the test runner's, and a stop that leaves no process behind.

- ``private_mounts(*paths)``: True when this process is root, ``unshare`` works and each path can serve as an
  (empty) mountpoint; a command wrapped by ``in_namespace`` then sees ``source`` at ``path`` and nobody else does.
  ``CLOUDML_RIG_NO_BIND=1`` forces the fallback (the rig then passes the platform's base-dir variable instead).
- ``container_python(folder, cache)``: a fresh virtualenv for one container (``--without-pip``; the test runner's
  site-packages come through a ``.pth`` placed after the venv's own, as an image's base layer would). Whatever the
  platform's runtime ``pip install``s there (a bundle's ``requirements.txt``) lands in that venv, never in the test
  runner's environment. With ``cache`` (the session's ``CLOUDML_VENV_CACHE``), venvs are kept per requirements hash.
- ``kill_tree(proc)``: freeze (SIGSTOP) the process and every descendant, however it detached itself (torchrun's
  workers start their own sessions), then SIGKILL them all, so nothing survives a timeout or a stop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

_OK: dict[tuple[str, ...], bool] = {}


def private_mounts(*paths: str) -> bool:
    """Can a child see a folder of ours at each of ``paths`` in a private mount namespace?"""
    if paths not in _OK:
        ok = bool(os.geteuid() == 0 and shutil.which("unshare") and not os.environ.get("CLOUDML_RIG_NO_BIND"))
        try:
            for path in paths if ok else ():
                os.makedirs(path, exist_ok=True)   # an empty mountpoint; nothing is ever written into it here
                probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {path}"],
                                       capture_output=True, timeout=10)
                ok = ok and probe.returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        _OK[paths] = ok
    return _OK[paths]


def in_namespace(binds: dict[str, str], cmd: list[str], hostname: str | None = None) -> list[str]:
    """``cmd`` run in private mount and PID (and UTS, with ``hostname``) namespaces where each ``binds`` target
    path shows the source path (a folder or a file such as ``/etc/hosts``)."""
    script = " && ".join(f'mount --bind "${i}" {target}' for i, target in enumerate(binds.values()))
    if hostname:
        script += f" && hostname {hostname}"
    shift = len(binds) - 1   # "$0" is the first source, "$@" the rest
    # a PID namespace too: when the container's first process ends, the kernel kills whatever it left behind
    flags = ["-m", "-p", "-f", "--kill-child", "--mount-proc", *(["-u"] if hostname else [])]
    return ["unshare", *flags, "sh", "-c", f'{script} && shift {shift} && exec "$@"', *binds.keys(), *cmd]


def container_python(folder: Path, requirements: bytes | None = None, cache: str | None = None,
                     absent: tuple[str, ...] = ()) -> str:
    """The interpreter of one container: a new venv in ``folder`` (or, with ``requirements`` and ``cache``, one
    cached per requirements hash) that sees the test runner's packages after its own, except the top-level
    packages named in ``absent`` (not in that image: e.g. TensorFlow in a PyTorch DLC), which fail to import."""
    if requirements is not None and cache:
        digest = hashlib.sha256(requirements + sys.version.encode() + repr(absent).encode()).hexdigest()[:16]
        folder = Path(cache) / f"container-{digest}"
    python = folder / "bin" / "python"
    if python.exists():
        return str(python)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp)], check=True)
    site = next(tmp.glob("lib/python*/site-packages"))
    base = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    (site / "_rig_base_image.pth").write_text("\n".join(dict.fromkeys(base)) + "\n")
    for name in absent:
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}' (not in this image)\", name={name!r})\n")
    try:
        os.rename(tmp, folder)
    except OSError:   # made by another container meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return str(python)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_tree(proc: subprocess.Popen | None) -> None:
    """Stop ``proc`` and everything it started: SIGSTOP the whole tree until it stops growing (no new forks, no
    orphan escaping to init once its parent is gone), then SIGKILL all of it. As a machine going away, no grace."""
    if proc is None:
        return
    stopped: list[int] = []
    for _ in range(50):
        tree = [p for p in [proc.pid, *descendants(proc.pid)] if p not in stopped and alive(p)]
        if not tree:
            break
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
