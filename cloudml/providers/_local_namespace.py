"""A private mount namespace per local node, so SageMaker's fixed paths are real for the script on ``local``.

``python -m cloudml.providers._local_namespace SPEC.json -- CMD...`` enters a new mount namespace (as root:
``unshare(CLONE_NEWNS)``; otherwise a user namespace too, mapping this user to root inside it, where the kernel
allows unprivileged user namespaces), makes every mount private (nothing leaks to the host), then:

* ``/opt/ml`` <- the node's root (``nodes/algo-N``: model, output, input/config, input/data, checkpoints). When the
  host has no ``/opt/ml``, a tmpfs goes over ``/opt`` inside the namespace with each of the host's ``/opt`` entries
  bound back in place, and ``/opt/ml`` is made in that tmpfs: the host's own ``/opt`` is never written;
* ``/etc/hosts`` <- a copy of the host's plus ``127.0.0.1 algo-1 algo-2 ...`` so ``SM_HOSTS`` names resolve;

then ``exec``s CMD (same pid: the supervisor's signals and process group still apply). ``mode()`` says whether
this machine can do it and, when it cannot, why (not Linux, no ``unshare``, user namespaces disabled, no /opt).
``CLOUDML_LOCAL_NAMESPACE=0`` turns it off (jobs then get the paths in the environment variables only).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_REC, MS_BIND, MS_PRIVATE = 1, 16384, 4096, 1 << 18
MNT_DETACH = 2

_MODE: tuple[str | None, str] | None = None


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {source} on {target}")


def enter(user_ns: bool) -> None:
    """Enter a private mount namespace (and a user namespace when ``user_ns``). Call single-threaded."""
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWNS | (CLONE_NEWUSER if user_ns else 0)), "unshare")
    if user_ns:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)


def _bind(libc, source: str, target: str) -> None:
    _mount(libc, source, target, None, MS_BIND | MS_REC)


def make_mountpoint(libc, parent: str, name: str, scratch: str) -> str:
    """``parent/name`` as an empty directory inside this namespace only: made directly when it exists, else via a
    tmpfs over ``parent`` holding binds of the parent's original entries (symlinks copied)."""
    target = os.path.join(parent, name)
    if os.path.isdir(target):
        return target
    old = os.path.join(scratch, "orig")
    os.makedirs(old, exist_ok=True)
    _bind(libc, parent, old)
    _mount(libc, "tmpfs", parent, "tmpfs", 0, "mode=0755")
    for entry in sorted(os.listdir(old)):
        src, dst = os.path.join(old, entry), os.path.join(parent, entry)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            _bind(libc, src, dst)
        else:
            open(dst, "w").close()
            _bind(libc, src, dst)
    _check(libc.umount2(old.encode(), MNT_DETACH), f"umount {old}")
    os.mkdir(target)
    return target


def setup(spec: dict) -> None:
    libc = _libc()
    enter(bool(spec.get("user_ns")))
    _bind(libc, spec["root"], make_mountpoint(libc, "/opt", "ml", spec["scratch"]))
    if spec.get("hosts_file") and os.path.exists("/etc/hosts"):
        _mount(libc, spec["hosts_file"], "/etc/hosts", None, MS_BIND)


def hosts_file(path: Path, hosts: list[str]) -> Path:
    """The host's ``/etc/hosts`` plus one line naming every simulated node on 127.0.0.1."""
    try:
        base = Path("/etc/hosts").read_text()
    except OSError:
        base = "127.0.0.1 localhost\n"
    path.write_text(base.rstrip("\n") + "\n127.0.0.1 " + " ".join(hosts) + "\n")
    return path


def _probe(user_ns: bool) -> str | None:
    """Do the real setup in a forked child (no new interpreter: a few ms); None when it worked, else why not."""
    with tempfile.TemporaryDirectory(prefix="cloudml-ns-") as tmp:
        root = Path(tmp) / "root"
        (root / "model").mkdir(parents=True)
        (root / "model" / "probe").write_text("ok")
        spec = {"root": str(root), "scratch": str(Path(tmp) / "scratch"), "user_ns": user_ns,
                "hosts_file": str(hosts_file(Path(tmp) / "hosts", ["algo-1"]))}
        _libc()  # load ctypes before forking
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: only system calls, then _exit (never returns into the caller's code)
            code = 1
            try:
                os.close(read_end)
                setup(spec)
                with open("/opt/ml/model/probe") as f:
                    code = 0 if f.read() == "ok" else 1
                    if code:
                        os.write(write_end, b"/opt/ml did not show the node root")
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                os.write(write_end, str(exc).encode(errors="replace")[:500])
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            message = f.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        return None if os.waitstatus_to_exitcode(status) == 0 else (message or f"wait status {status}")


def mode() -> tuple[str | None, str]:
    """``("root" | "userns", "")`` when per-node namespaces work here, else ``(None, why not)``. Cached."""
    global _MODE
    if _MODE is None:
        if os.environ.get("CLOUDML_LOCAL_NAMESPACE", "").lower() in ("0", "false", "no", "off"):
            _MODE = (None, "CLOUDML_LOCAL_NAMESPACE=0 turned private mount namespaces off")
        elif not sys.platform.startswith("linux"):
            _MODE = (None, f"private mount namespaces need Linux (this is {sys.platform})")
        elif not os.path.isdir("/opt"):
            _MODE = (None, "this host has no /opt folder to mount /opt/ml under")
        else:
            user_ns = os.geteuid() != 0
            err = _probe(user_ns)
            if err is None:
                _MODE = ("userns" if user_ns else "root", "")
            else:
                what = "unprivileged user namespaces (unshare -Urm)" if user_ns else "unshare -m"
                _MODE = (None, f"{what} is not allowed here: {err}")
    return _MODE


def main(argv: list[str]) -> None:
    spec_path, sep, *cmd = argv
    assert sep == "--" and cmd, "usage: _local_namespace SPEC.json -- CMD..."
    try:
        setup(json.loads(Path(spec_path).read_text()))
    except OSError as exc:
        print(f"[cloudml] cannot set up the node's mount namespace: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
