"""Bundling: ``source_dir`` -> one reproducible ``.tar.gz`` that every provider runs the same way.

Invariants:
- identical trees give byte-identical bundles (sorted entries, fixed mtime, uid/gid 0, normalised modes, gzip
  header without name or time), so the sha256 names the bundle and an unchanged re-fit uploads nothing;
- the bundle holds the user's files (minus default and ``.cloudmlignore`` rules), ``cloudml_runtime/`` (the
  stdlib-only launcher and serving adapter), a ``cloudml_launcher.py`` shim and ``cloudml_manifest.json``;
- version control, virtualenvs and caches are left out silently (``DEFAULT_IGNORES``);
- credential files never enter a bundle, and their presence is not silent: a file whose NAME looks like a
  credential (``CREDENTIAL_NAMES``: ``.env*``, ``*.pem``, ``*.key``, ``id_rsa*``, ``.aws/``, ``.azure/``, gcloud
  credentials ...) or whose CONTENT looks like a private key or cloud secret refuses the bundle with one
  ``BundleError`` naming every such file. The user acknowledges a credential-named file by listing it in
  ``.cloudmlignore`` (or ``ignore=``): it is then left out without complaint. With ``allow_secrets=True``
  credential-named files are still left out and content-matched files are bundled, with a warning naming them;
- the credential name rules match case-insensitively at any depth (``ci/.docker/config.json``, ``CERT.PEM``); a
  link is judged by its target too (a link to an ignored or credential file is not bundled under its own name);
  content is scanned over the whole file, however large, while it is streamed into the archive;
- bundling streams: each file is read in chunks into the gzip stream, which is written (and hashed) straight to
  a temporary file next to the cache entry, so memory stays bounded whatever the file sizes; a failure (a full
  disk, a refused secret) removes the temporary file;
- what cannot be bundled is named: unreadable files or folders, symlink loops, ``source_dir`` being ``/`` or a
  home folder (tokens, shell history, caches), an undecodable ``.cloudmlignore``;
- extraction refuses absolute paths, ``..``, links and devices, and archives beyond ``MAX_EXTRACT_MEMBERS`` members,
  ``MAX_EXTRACT_BYTES`` in all, or more than ``MAX_EXTRACT_RATIO`` times their compressed size (``UnsafeArchiveError``),
  all judged from the member headers before anything is written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import queue
import tarfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudml._extract import (
    MAX_EXTRACT_BYTES,
    MAX_EXTRACT_MEMBERS,
    MAX_EXTRACT_RATIO,
    RATIO_FLOOR,
    safe_extract,
)
from cloudml._ignore_rules import CREDENTIAL_NAMES, DEFAULT_IGNORES, IgnoreRules, _parents, credential_named
from cloudml.errors import BundleError, ValidationError
from cloudml.runtime import secrets

log = logging.getLogger("cloudml.packaging")

FIXED_MTIME = 315532800  # 1980-01-01, what zip and reproducible-builds tooling use
LARGE_FILE_BYTES = 100 * 1024 * 1024
RUNTIME_DIR = Path(__file__).parent / "runtime"
LAUNCHER_SHIM = "from cloudml_runtime.launcher import main\n\nmain()\n"
RESERVED = ("cloudml_launcher.py", "cloudml_runtime", "cloudml_manifest.json")
READ_CHUNK = 1 << 20           # bytes read from a file at a time while bundling

__all__ = ["CREDENTIAL_NAMES", "DEFAULT_IGNORES", "MAX_EXTRACT_BYTES", "MAX_EXTRACT_MEMBERS", "MAX_EXTRACT_RATIO",
           "RATIO_FLOOR", "Bundle", "IgnoreRules", "build", "credential_named", "file_sha256", "runtime_files",
           "safe_extract", "scan_file", "scan_secrets", "tar_dir"]


def _home_folders() -> list[Path]:
    homes: set[Path] = set()
    try:
        homes.add(Path.home())
    except (RuntimeError, KeyError):
        pass
    if os.environ.get("HOME"):
        homes.add(Path(os.environ["HOME"]))
    out = []
    for h in homes:
        try:
            out.append(h.resolve())
        except (OSError, RuntimeError):
            pass
    return out


@dataclass(frozen=True)
class Bundle:
    """A built bundle on local disk."""

    path: Path
    sha256: str
    size: int
    files: tuple[str, ...]          # the user's files, relative, sorted
    excluded: tuple[str, ...]       # files left out by ignore rules

    @property
    def name(self) -> str:
        return f"{self.sha256}.tar.gz"


def _check_source_root(root: Path) -> Path:
    """``root`` resolved, if it is a folder one may bundle; else ``ValidationError("source_dir")`` saying why."""
    try:
        real = root.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ValidationError("source_dir", f"{os.fspath(root)!r} cannot be read: {exc}") from None
    if not real.is_dir():
        raise ValidationError("source_dir", f"{os.fspath(root)!r} is not a directory")
    if real == Path(real.anchor):
        raise ValidationError("source_dir", f"{os.fspath(root)!r} is the file system root",
                              "point source_dir at your project folder")
    for home in _home_folders():
        if real == home or home.is_relative_to(real):
            raise ValidationError("source_dir", f"{os.fspath(root)!r} is (or holds) your home folder {home}: it "
                                  "holds tokens, shell history, SSH and cloud credentials and caches that must not "
                                  "be uploaded", "point source_dir at your project folder")
    if not os.access(real, os.R_OK | os.X_OK):
        raise ValidationError("source_dir", f"{os.fspath(root)!r} is not readable (permission denied)")
    return real


def _walk(root: Path, rules: IgnoreRules) -> tuple[list[str], list[str], dict[str, str]]:
    """(kept files, excluded paths, links: kept link -> the relative path of its target inside root).
    Raises ``BundleError`` naming every unreadable entry and symlink loop."""
    kept: list[str] = []
    excluded: list[str] = []
    links: dict[str, str] = {}
    problems: list[str] = []
    real_root = root.resolve()

    def on_error(exc: OSError) -> None:
        rel = os.path.relpath(exc.filename, root) if exc.filename else "?"
        problems.append(f"{rel}/ (folder cannot be read: {exc.strerror or exc})")

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=on_error):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        for d in sorted(dirnames):
            full = Path(dirpath, d)
            if rules.ignored(rel_dir + d, True) or full.is_symlink():
                excluded.append(rel_dir + d + "/")
                dirnames.remove(d)
            elif not os.access(full, os.R_OK | os.X_OK):
                problems.append(f"{rel_dir}{d}/ (folder cannot be read: permission denied)")
                dirnames.remove(d)
        for f in filenames:
            rel = rel_dir + f
            full = Path(dirpath, f)
            if rules.ignored(rel, False):
                excluded.append(rel)
                continue
            if full.is_symlink():
                try:
                    target = full.resolve(strict=True)
                except RuntimeError:
                    problems.append(f"{rel} (a symlink loop)")
                    continue
                except OSError:
                    excluded.append(rel)
                    log.warning("left out %s: a link to nothing", rel)
                    continue
                if not target.is_relative_to(real_root):
                    excluded.append(rel)
                    log.warning("left out %s: a link to outside source_dir", rel)
                    continue
                target_rel = target.relative_to(real_root).as_posix()
                if rules.ignored(target_rel, False) or any(
                        rules.ignored(part, True) for part in _parents(target_rel)):
                    excluded.append(rel)   # a link to an ignored file is ignored with it
                    continue
                links[rel] = target_rel
                full = target
            if not full.is_file():
                continue
            if not os.access(full, os.R_OK):
                problems.append(f"{rel} (cannot be read: permission denied)")
                continue
            kept.append(rel)
    if problems:
        raise BundleError("cannot bundle source_dir " + os.fspath(root) + ": " + "; ".join(sorted(problems)[:20])
                          + (f" (+{len(problems) - 20} more)" if len(problems) > 20 else "")
                          + ". Fix the permissions or links, or list them in .cloudmlignore")
    return sorted(kept), sorted(excluded), links


def _refuse(named: Sequence[str], found: dict[str, list[str]]) -> None:
    listing = "; ".join([f"{f} (a credential file name)" for f in named]
                        + [f"{f} ({', '.join(k)})" for f, k in sorted(found.items())])
    raise BundleError(f"refusing to bundle a tree holding credentials: {listing}. Remove them, list them in "
                      ".cloudmlignore (they are then left out), or pass allow_secrets=True")


class _ScanningReader:
    """A file read in chunks (for ``tarfile``) whose whole content is scanned for secrets on the way: each chunk
    is scanned with the end of the previous one, so a key straddling two chunks is found too."""

    def __init__(self, f: io.BufferedReader):
        self._f = f
        self._carry = b""
        self.kinds: set[str] = set()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            if data.count(0) == len(data):  # all NUL bytes (sparse or zero-filled): nothing new to find
                self._carry = b""           # and nothing can straddle it
                return data
            window = self._carry + data
            self.kinds.update(secrets.secret_kinds(window))
            self._carry = window[-secrets.SCAN_OVERLAP:]
        return data


def scan_file(path: Path) -> list[str]:
    """What in the file at ``path`` (all of it, read in chunks) looks like a credential."""
    with open(path, "rb") as f:
        reader = _ScanningReader(f)  # type: ignore[arg-type]
        while reader.read(READ_CHUNK):
            pass
    return sorted(reader.kinds)


def scan_secrets(root: Path, files: Sequence[str]) -> dict[str, list[str]]:
    """Files whose content looks like a credential -> what it looks like."""
    found: dict[str, list[str]] = {}
    for rel in files:
        try:
            kinds = scan_file(root / rel)
        except OSError:
            continue
        if kinds:
            found[rel] = kinds
    return found


def _add(tar: tarfile.TarFile, name: str, data: bytes, executable: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = FIXED_MTIME
    info.mode = 0o755 if executable else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


class _HashingFile:
    """A write-only file that hashes and counts what goes through it to ``f``."""

    def __init__(self, f: io.BufferedWriter):
        self._f = f
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._f.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._f.flush()


class _GzipPipe:
    """A write-only file for ``tarfile`` that gzips what it is given on a second thread, straight into
    ``out`` (hashed on the way): memory holds at most a few chunks, whatever the archive's size.

    zlib and hashlib release the GIL, so compression runs while the calling thread reads and scans the next
    files, as ``tar czf`` overlaps tar and gzip. The gzip stream is the one ``GzipFile(filename="", mtime=0)``
    writes on one thread (deflate's output does not depend on how its input is split into writes).
    """

    CHUNK = 1 << 20

    def __init__(self, out: io.BufferedWriter, compresslevel: int):
        self._out = _HashingFile(out)
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._out, mtime=0,  # type: ignore[arg-type]
                                 compresslevel=compresslevel)
        self._buf = bytearray()
        self._written = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="cloudml-gzip", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._gz.write(chunk)
                except BaseException as exc:  # reported to the writer by write() / close()
                    self._error = exc

    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise self._error
        self._buf += data
        self._written += len(data)
        if len(self._buf) >= self.CHUNK:
            self._queue.put(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def tell(self) -> int:
        return self._written

    def close(self) -> None:
        """Compress what is left and write the gzip trailer (the output file stays open)."""
        if self._thread.is_alive():
            if self._buf:
                self._queue.put(bytes(self._buf))
                self._buf.clear()
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        if not self._gz.closed:
            self._gz.close()
            self._out.flush()

    def result(self) -> tuple[int, str]:
        """The finished ``.tar.gz``'s size and sha256 (after ``close``)."""
        return self._out.size, self._out.sha256.hexdigest()

    def __enter__(self) -> _GzipPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runtime_files() -> dict[str, bytes]:
    """``cloudml_runtime/*.py`` + the launcher shim, as they go into every bundle."""
    files = {f"cloudml_runtime/{p.name}": p.read_bytes() for p in sorted(RUNTIME_DIR.glob("*.py"))}
    files["cloudml_launcher.py"] = LAUNCHER_SHIM.encode()
    return files


def build(
    source_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    entry_point: str | None = None,
    ignore: Sequence[str] = (),
    allow_secrets: bool = False,
    compresslevel: int = 6,
) -> Bundle:
    """Bundle ``source_dir`` into ``out_dir/<sha256>.tar.gz``; returns the ``Bundle``. No network."""
    root = Path(source_dir)
    _check_source_root(root)
    patterns = list(DEFAULT_IGNORES) + list(ignore)
    patterns += _read_ignore_file(root / ".cloudmlignore")
    rules = IgnoreRules(patterns)
    kept, excluded, links = _walk(root, rules)
    if entry_point is not None:
        entry = os.path.normpath(entry_point).replace(os.sep, "/")
        if entry not in kept:
            why = "it is excluded by an ignore rule" if entry in excluded else "it is not inside source_dir"
            raise BundleError(f"entry point {entry_point!r} would not be in the bundle: {why}")
    clash = [f for f in kept if f.split("/")[0] in RESERVED]
    if clash:
        raise BundleError(f"these names are reserved for cloudml's runtime; rename them: {', '.join(clash)}")
    named = credential_named(kept, links)
    kept = [f for f in kept if f not in named]
    excluded = sorted([*excluded, *named])
    if named and not allow_secrets:  # refuse now, naming content matches too (one error lists every file)
        _refuse(named, scan_secrets(root, kept))
    if named:
        log.warning("left out credential files (allow_secrets=True): %s", ", ".join(named))
    large = [f"{f} ({(root / f).stat().st_size / 1e6:.0f} MB)" for f in kept
             if (root / f).stat().st_size > LARGE_FILE_BYTES]
    if large:
        log.warning("files over 100 MB in the bundle (upload them as a channel instead?): %s", ", ".join(large))
    manifest = {"format": 1, "files": kept}
    rt = runtime_files()
    found: dict[str, list[str]] = {}
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"cannot create the bundle cache folder {out}: {exc.strerror or exc}") from None
    tmp = out / f".{os.getpid()}.{threading.get_ident()}.{os.urandom(4).hex()}.tar.tmp"
    try:
        with open(tmp, "wb") as raw:
            with _GzipPipe(raw, compresslevel) as pipe:  # type: ignore[arg-type]
                tar = tarfile.open(fileobj=pipe, mode="w", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]
                tar.copybufsize = READ_CHUNK
                entries = {rel: None for rel in kept}
                entries.update(dict.fromkeys(rt))
                entries["cloudml_manifest.json"] = None
                for name in sorted(entries):
                    if name in rt:
                        _add(tar, name, rt[name])
                    elif name == "cloudml_manifest.json":
                        _add(tar, name, json.dumps(manifest, indent=1, sort_keys=True).encode())
                    else:  # streamed: scanned for secrets on the way, while earlier chunks are compressed
                        kinds = _add_file(tar, name, root / name)
                        if kinds:
                            found[name] = kinds
                tar.close()
            size, digest = pipe.result()
        if found:  # the archive is only a temporary file yet: refuse the bundle, or warn
            if not allow_secrets:
                _refuse([], found)
            listing = "; ".join(f"{f} ({', '.join(k)})" for f, k in sorted(found.items()))
            log.warning("bundling files that look like credentials (allow_secrets=True): %s", listing)
        path = out / f"{digest}.tar.gz"
        try:
            cached_size = path.stat().st_size
        except FileNotFoundError:
            cached_size = None
        if cached_size != size:  # absent, or a damaged copy (truncated by a crash or a full disk): replaced
            os.replace(tmp, path)
    except OSError as exc:
        raise BundleError(f"cannot write the bundle into {out}: {exc.strerror or exc} (free some space, or point "
                          "CLOUDML_CACHE_DIR at another disk)") from None
    finally:
        tmp.unlink(missing_ok=True)
    return Bundle(path=path, sha256=digest, size=size, files=tuple(kept), excluded=tuple(excluded))


def _read_ignore_file(path: Path) -> list[str]:
    """The lines of ``.cloudmlignore``: UTF-8, else Latin-1 (with a warning); unreadable: ``BundleError``."""
    if not path.is_file():
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("%s is not UTF-8: read as Latin-1 (save it as UTF-8 to silence this)", path)
        text = data.decode("latin-1")
    return text.splitlines()


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> list[str]:
    """Stream the file at ``path`` into ``tar`` as ``name`` (normalised metadata); what looks like a credential
    in it. A file that cannot be read raises ``BundleError`` naming it."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            info = tarfile.TarInfo(name)
            info.size = st.st_size
            info.mtime = FIXED_MTIME
            info.mode = 0o755 if st.st_mode & 0o111 else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            reader = _ScanningReader(f)  # type: ignore[arg-type]
            tar.addfile(info, reader)  # type: ignore[arg-type]
    except PermissionError as exc:
        raise BundleError(f"cannot bundle {name}: {exc.strerror} (fix its permissions or list it in "
                          ".cloudmlignore)") from None
    except OSError as exc:
        if exc.filename is None and getattr(exc, "errno", None) is None:
            raise BundleError(f"cannot bundle {name}: it changed while being read ({exc})") from None
        raise
    return sorted(reader.kinds)


def tar_dir(src: str | os.PathLike[str], archive: str | os.PathLike[str]) -> Path:
    """``src``'s contents -> ``archive`` (a model.tar.gz with paths relative to ``src``), reproducibly."""
    src_path = Path(src)
    with open(archive, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.copybufsize = READ_CHUNK
            for path in sorted(src_path.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    _add_file(tar, path.relative_to(src_path).as_posix(), path)  # streamed
    return Path(archive)


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
