"""Progress of byte transfers (bundle and data uploads, downloads): a hook providers call, a display the CLI installs.

Providers report a transfer like this, whatever shape their SDK's callback has::

    from cloudml import progress

    with progress.transfer(f"uploading {bundle.name}", total=bundle.size) as t:
        s3.upload_file(str(bundle.path), bucket, key, Callback=t)        # boto3: bytes since the last call
        blob_client.upload_blob(f, progress_hook=t.update)                # azure: (current, total) so far
        t.update(done)                                                    # anything else: bytes so far

Invariants:
- standard library only, cheap to import; without an installed reporter every call is a no-op, so the library
  stays silent and providers never need to know whether anyone is watching;
- ``Transfer`` is safe to call from several threads (boto3 calls its callback from its transfer threads);
- the reporter is process-wide (``use(reporter)`` installs one for the duration of a block); the CLI installs a
  rich progress bar on a terminal and none under ``--json``/``--quiet`` or when output is piped.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Protocol


class Reporter(Protocol):
    """What displays transfers. ``start`` returns a handle passed back to the other methods."""

    def start(self, description: str, total: int | None) -> Any: ...

    def update(self, handle: Any, completed: int, total: int | None) -> None: ...

    def finish(self, handle: Any) -> None: ...


_reporter: Reporter | None = None
_lock = threading.Lock()


class Transfer:
    """One transfer in progress. Call it with a byte increment, or ``update(done[, total])`` with the bytes so far."""

    def __init__(self, reporter: Reporter | None, description: str, total: int | None):
        self.description = description
        self.total = total
        self.completed = 0
        self._reporter = reporter
        self._lock = threading.Lock()
        self._handle = reporter.start(description, total) if reporter is not None else None

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            self.completed += int(nbytes)
            self._push()

    def update(self, completed: int, total: int | None = None) -> None:
        with self._lock:
            self.completed = int(completed)
            if total:
                self.total = int(total)
            self._push()

    def _push(self) -> None:
        if self._reporter is not None:
            self._reporter.update(self._handle, self.completed, self.total)

    def close(self) -> None:
        if self._reporter is not None:
            self._reporter.finish(self._handle)
            self._reporter = None


@contextlib.contextmanager
def transfer(description: str, total: int | None = None) -> Iterator[Transfer]:
    """Report one transfer of ``total`` bytes (None: unknown) for the duration of the block."""
    t = Transfer(_reporter, description, total)
    try:
        yield t
    finally:
        t.close()


@contextlib.contextmanager
def use(reporter: Reporter | None) -> Iterator[None]:
    """Install ``reporter`` for every transfer started inside the block (``None``: silence)."""
    global _reporter
    with _lock:
        saved, _reporter = _reporter, reporter
    try:
        yield
    finally:
        with _lock:
            _reporter = saved


def copy_file(src: str, dest: str, description: str, chunk: int = 1 << 20) -> None:
    """Copy a file in chunks, reporting progress (the local provider's "upload")."""
    import os

    total = os.path.getsize(src)
    with transfer(description, total) as t, open(src, "rb") as fin, open(dest, "wb") as fout:
        while True:
            data = fin.read(chunk)
            if not data:
                break
            fout.write(data)
            t(len(data))


__all__ = ["Reporter", "Transfer", "copy_file", "transfer", "use"]
