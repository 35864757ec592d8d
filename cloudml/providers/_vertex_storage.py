"""Google Cloud Storage for the Vertex provider: content-addressed uploads, downloads, small reads.

Invariants:
- objects cloudml uploads are keyed by content (bundle sha256, tree digest), written create-only
  (``if_generation_match=0``) so a retried or repeated upload never rewrites an object, and skipped when present:
  an unchanged re-fit uploads nothing;
- a local channel tree is complete on GCS once its ``<digest>.complete`` marker exists (written last, outside
  the channel's own prefix so the training script never sees it);
- retries are google-cloud-storage's own (``DEFAULT_RETRY`` bounded by the provider's timeout).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from cloudml.errors import NotFoundError, ValidationError
from cloudml.packaging import file_sha256, tar_dir
from cloudml.providers._vertex_requests import gs_split


def tree_digest(root: Path) -> str:
    """sha256 over the sorted (relative path, file sha256) pairs of a file or directory."""
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0" + file_sha256(path).encode() + b"\n")
    return h.hexdigest()


class Storage:
    """Thin, retried operations over one ``google.cloud.storage.Client``."""

    def __init__(self, client: Any, timeout: float):
        from google.api_core import exceptions
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.client = client
        self.timeout = timeout
        self.retry = DEFAULT_RETRY.with_timeout(timeout)
        self._exc = exceptions
        self.uploaded: list[str] = []   # URIs this instance wrote (for reports and tests)

    def _blob(self, uri: str) -> Any:
        if not uri.startswith("gs://"):
            raise ValidationError("uri", f"{uri!r} is not a gs:// URI")
        bucket, name = gs_split(uri)
        return self.client.bucket(bucket).blob(name)

    def exists(self, uri: str) -> bool:
        return bool(self._blob(uri).exists(timeout=self.timeout, retry=self.retry))

    def put_file(self, path: str | os.PathLike[str], uri: str) -> bool:
        """Upload ``path`` to ``uri`` unless an object is already there. True when it uploaded."""
        blob = self._blob(uri)
        if blob.exists(timeout=self.timeout, retry=self.retry):
            return False
        try:
            blob.upload_from_filename(os.fspath(path), if_generation_match=0, timeout=self.timeout,
                                      retry=self.retry)
        except self._exc.PreconditionFailed:  # someone (or a lost response) wrote it first
            return False
        self.uploaded.append(uri)
        return True

    def put_bytes(self, data: bytes, uri: str) -> bool:
        blob = self._blob(uri)
        try:
            blob.upload_from_string(data, if_generation_match=0, timeout=self.timeout, retry=self.retry)
        except self._exc.PreconditionFailed:
            return False
        self.uploaded.append(uri)
        return True

    def put_tree(self, local: Path, base_uri: str) -> str:
        """Upload a local file or directory under ``<base_uri>/<digest>/``; returns that prefix (with ``/``)."""
        digest = tree_digest(local)[:32]
        prefix = f"{base_uri.rstrip('/')}/{digest}/"
        marker = f"{base_uri.rstrip('/')}/{digest}.complete"
        if self.exists(marker):
            return prefix
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for path in files:
            rel = path.name if local.is_file() else path.relative_to(local).as_posix()
            self.put_file(path, prefix + rel)
        self.put_bytes(b"", marker)
        return prefix

    def list(self, prefix_uri: str) -> list[str]:
        """Object names (full ``gs://`` URIs) under a prefix."""
        bucket, prefix = gs_split(prefix_uri)
        blobs = self.client.list_blobs(bucket, prefix=prefix, timeout=self.timeout, retry=self.retry)
        return [f"gs://{bucket}/{b.name}" for b in blobs]

    def read_text(self, uri: str) -> str | None:
        try:
            return self._blob(uri).download_as_bytes(timeout=self.timeout, retry=self.retry).decode(errors="replace")
        except self._exc.NotFound:
            return None

    def download(self, uri: str, dest: str) -> str:
        """The object at ``uri`` to the file ``dest``. A folder (``.../``, as Vertex models are) becomes a
        ``.tar.gz`` of its contents at ``dest``, the same artifact other providers hand out."""
        if uri.endswith("/"):
            with tempfile.TemporaryDirectory() as tmp:
                self.download_dir(uri, tmp)
                Path(dest).parent.mkdir(parents=True, exist_ok=True)
                tar_dir(tmp, dest)
            return dest
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._blob(uri).download_to_filename(dest, timeout=self.timeout, retry=self.retry)
        except self._exc.NotFound:
            Path(dest).unlink(missing_ok=True)
            raise NotFoundError(f"no object at {uri}") from None
        return dest

    def download_dir(self, uri: str, dest: str) -> str:
        """Every object under the prefix ``uri`` (ending in ``/``) into the directory ``dest``."""
        names = self.list(uri)
        if not names:
            raise NotFoundError(f"nothing under {uri}")
        for name in names:
            rel = name[len(uri):]
            if not rel or rel.endswith("/") or ".." in rel.split("/"):
                continue
            target = Path(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._blob(name).download_to_filename(str(target), timeout=self.timeout, retry=self.retry)
        return dest
