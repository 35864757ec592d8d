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
- extraction refuses absolute paths, ``..`` and links (``UnsafeArchiveError``).
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import json
import logging
import os
import queue
import re
import tarfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudml.errors import BundleError, UnsafeArchiveError, ValidationError
from cloudml.runtime import secrets

log = logging.getLogger("cloudml.packaging")

FIXED_MTIME = 315532800  # 1980-01-01, what zip and reproducible-builds tooling use
LARGE_FILE_BYTES = 100 * 1024 * 1024
RUNTIME_DIR = Path(__file__).parent / "runtime"
LAUNCHER_SHIM = "from cloudml_runtime.launcher import main\n\nmain()\n"
RESERVED = ("cloudml_launcher.py", "cloudml_runtime", "cloudml_manifest.json")
SCAN_LIMIT = 2 * 1024 * 1024  # bytes of each file scanned for secrets

DEFAULT_IGNORES = (
    # version control, environments, caches: left out silently
    ".git/", ".hg/", ".svn/", ".venv/", "venv/", ".tox/", "__pycache__/", "*.pyc", ".mypy_cache/",
    ".pytest_cache/", ".ruff_cache/", ".ipynb_checkpoints/", ".DS_Store", ".cloudml/",
)
CREDENTIAL_NAMES = (
    # never bundled; present and not listed in .cloudmlignore, they refuse the bundle (unless allow_secrets)
    ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    ".aws/", ".azure/", ".config/gcloud/", "gcloud/", "application_default_credentials.json", ".netrc",
    ".git-credentials", ".pypirc", ".npmrc", ".docker/config.json",
)


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


class IgnoreRules:
    """``.gitignore``-style rules: ``*``, ``?``, ``**``, trailing ``/`` (folders), leading ``/`` (anchored),
    ``!`` (re-include). The last matching rule wins."""

    def __init__(self, patterns: Iterable[str]):
        self.rules: list[tuple[re.Pattern[str], bool, bool]] = []
        for raw in patterns:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line[1:] if negate else line
            dir_only = line.endswith("/")
            line = line.strip("/") if dir_only else line
            anchored = line.startswith("/") or "/" in line
            line = line.lstrip("/")
            regex = self._translate(line)
            regex = ("^" if anchored else "^(?:.*/)?") + regex + "$"
            self.rules.append((re.compile(regex), negate, dir_only))

    @staticmethod
    def _translate(pattern: str) -> str:
        out, i = [], 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif pattern.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                c = pattern[i]
                out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else
                           fnmatch.translate(c)[4:-3] if c == "[" else re.escape(c))
                i += 1
        return "".join(out)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for regex, negate, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            if regex.match(rel):
                result = not negate
        return result


def _walk(root: Path, rules: IgnoreRules) -> tuple[list[str], list[str]]:
    kept: list[str] = []
    excluded: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        for d in sorted(dirnames):
            full = Path(dirpath, d)
            if rules.ignored(rel_dir + d, True) or full.is_symlink():
                excluded.append(rel_dir + d + "/")
                dirnames.remove(d)
        for f in filenames:
            rel = rel_dir + f
            full = Path(dirpath, f)
            if rules.ignored(rel, False):
                excluded.append(rel)
            elif full.is_symlink() and not full.resolve().is_relative_to(root.resolve()):
                excluded.append(rel)
                log.warning("left out %s: a link to outside source_dir", rel)
            elif full.is_file():
                kept.append(rel)
    return sorted(kept), sorted(excluded)


def credential_named(files: Sequence[str]) -> list[str]:
    """The files whose path (the name or a parent folder) matches ``CREDENTIAL_NAMES``."""
    rules = IgnoreRules(CREDENTIAL_NAMES)
    found = []
    for rel in files:
        parts = rel.split("/")
        if rules.ignored(rel, False) or any(rules.ignored("/".join(parts[:i]), True) for i in range(1, len(parts))):
            found.append(rel)
    return found


def _refuse(named: Sequence[str], found: dict[str, list[str]]) -> None:
    listing = "; ".join([f"{f} (a credential file name)" for f in named]
                        + [f"{f} ({', '.join(k)})" for f, k in sorted(found.items())])
    raise BundleError(f"refusing to bundle a tree holding credentials: {listing}. Remove them, list them in "
                      ".cloudmlignore (they are then left out), or pass allow_secrets=True")


def scan_secrets(root: Path, files: Sequence[str]) -> dict[str, list[str]]:
    """Files whose content looks like a credential -> what it looks like."""
    found: dict[str, list[str]] = {}
    for rel in files:
        try:
            with open(root / rel, "rb") as f:
                head = f.read(SCAN_LIMIT)
        except OSError:
            continue
        kinds = secrets.secret_kinds(head)
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


class _GzipPipe:
    """A write-only file for ``tarfile`` that gzips (and hashes) what it is given on a second thread.

    zlib and hashlib release the GIL, so compression runs while the calling thread reads and scans the next
    files, as ``tar czf`` overlaps tar and gzip. The gzip stream is the one ``GzipFile(filename="", mtime=0)``
    writes on one thread (deflate's output does not depend on how its input is split into writes).
    """

    CHUNK = 1 << 20

    def __init__(self, compresslevel: int):
        self._raw = io.BytesIO()
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=compresslevel)
        self._buf = bytearray()
        self._written = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="cloudml-gzip", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._gz.write(chunk)
                except BaseException as exc:  # reported to the writer by close()
                    self._error = exc

    def write(self, data: bytes) -> int:
        self._buf += data
        self._written += len(data)
        if len(self._buf) >= self.CHUNK:
            self._queue.put(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def tell(self) -> int:
        return self._written

    def close(self) -> None:
        if self._thread.is_alive():
            if self._buf:
                self._queue.put(bytes(self._buf))
                self._buf.clear()
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def result(self) -> tuple[bytes, str]:
        """The finished ``.tar.gz`` bytes and their sha256 (after ``close``)."""
        if not self._gz.closed:
            self._gz.close()
        data = self._raw.getvalue()
        return data, hashlib.sha256(data).hexdigest()

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
    if not root.is_dir():
        raise ValidationError("source_dir", f"{os.fspath(source_dir)!r} is not a directory")
    patterns = list(DEFAULT_IGNORES) + list(ignore)
    ignore_file = root / ".cloudmlignore"
    if ignore_file.is_file():
        patterns += ignore_file.read_text().splitlines()
    kept, excluded = _walk(root, IgnoreRules(patterns))
    if entry_point is not None:
        entry = os.path.normpath(entry_point).replace(os.sep, "/")
        if entry not in kept:
            why = "it is excluded by an ignore rule" if entry in excluded else "it is not inside source_dir"
            raise BundleError(f"entry point {entry_point!r} would not be in the bundle: {why}")
    clash = [f for f in kept if f.split("/")[0] in RESERVED]
    if clash:
        raise BundleError(f"these names are reserved for cloudml's runtime; rename them: {', '.join(clash)}")
    named = credential_named(kept)
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
    with _GzipPipe(compresslevel) as pipe:
        with tarfile.open(fileobj=pipe, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            entries = {rel: None for rel in kept}
            entries.update(dict.fromkeys(rt))
            entries["cloudml_manifest.json"] = None
            for name in sorted(entries):
                if name in rt:
                    _add(tar, name, rt[name])
                elif name == "cloudml_manifest.json":
                    _add(tar, name, json.dumps(manifest, indent=1, sort_keys=True).encode())
                else:  # each file is read once: scanned for secrets here, while earlier ones are compressed
                    full = root / name
                    content = full.read_bytes()
                    kinds = secrets.secret_kinds(content[:SCAN_LIMIT])
                    if kinds:
                        found[name] = kinds
                    _add(tar, name, content, executable=os.access(full, os.X_OK))
    if found:  # nothing has been written yet: refuse the bundle, or warn
        if not allow_secrets:
            _refuse([], found)
        listing = "; ".join(f"{f} ({', '.join(k)})" for f, k in sorted(found.items()))
        log.warning("bundling files that look like credentials (allow_secrets=True): %s", listing)
    data, digest = pipe.result()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{digest}.tar.gz"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return Bundle(path=path, sha256=digest, size=len(data), files=tuple(kept), excluded=tuple(excluded))


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[str]:
    """Extract a tar(.gz) into ``dest``, refusing any member that would land outside it or is a link/device."""
    dest_path = Path(dest).resolve()
    dest_path.mkdir(parents=True, exist_ok=True)
    names = []
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            target = (dest_path / m.name).resolve()
            if os.path.isabs(m.name) or not target.is_relative_to(dest_path) or ".." in Path(m.name).parts:
                raise UnsafeArchiveError(f"refusing to extract {m.name!r}: it would be written outside {dest}")
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"refusing to extract {m.name!r}: links and devices are not allowed")
        for m in members:
            tar.extract(m, dest_path, filter="data")
            names.append(m.name)
    return names


def tar_dir(src: str | os.PathLike[str], archive: str | os.PathLike[str]) -> Path:
    """``src``'s contents -> ``archive`` (a model.tar.gz with paths relative to ``src``), reproducibly."""
    src_path = Path(src)
    with open(archive, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(src_path.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    _add(tar, path.relative_to(src_path).as_posix(), path.read_bytes(),
                         executable=os.access(path, os.X_OK))
    return Path(archive)


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
