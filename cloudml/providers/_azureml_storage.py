"""Blob I/O for the Azure ML provider: datastore paths and blob URLs, uploads keyed by content, downloads.

``azureml://datastores/<name>/paths/<path>`` resolves through the workspace's datastore (account, container and its
account key or SAS, read with ``datastores.get(include_secrets=True)``); ``https://<account>.blob.<suffix>/<container>/
<path>`` is read with the workspace credential. ``account_url`` overrides the storage account URL a datastore
implies (private endpoints, sovereign clouds, Azurite).

Invariants: a local folder or file is uploaded once per content (``cloudml/inputs/<sha256[:20]>/`` plus a
``.cloudml-complete`` marker written last, so a half-finished upload is redone, never reused); secrets read from the
datastore stay in memory and are never logged.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cloudml.errors import NotFoundError, ValidationError

_DATASTORE_URI = re.compile(r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?"
                            r"datastores/([^/]+)/paths/(.*)$", re.IGNORECASE)
MARKER = ".cloudml-complete"


def parse_datastore_uri(uri: str) -> tuple[str, str] | None:
    m = _DATASTORE_URI.match(uri)
    return (m.group(1), m.group(2)) if m else None


def content_hash(path: Path) -> str:
    """sha256 over the relative names and bytes of every file under ``path`` (or of the file itself)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update((f.name if path.is_file() else f.relative_to(path).as_posix()).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def planned_uri(local: str, datastore: str) -> str:
    """Where ``BlobStore.upload_local`` puts a local file or folder: named by its content, so no network needed."""
    path = Path(local)
    base = f"azureml://datastores/{datastore}/paths/cloudml/inputs/{content_hash(path)[:20]}/"
    return base + path.name if path.is_file() else base


class BlobStore:
    """Blob access for one workspace. ``datastores`` is azure-ai-ml's ``DatastoreOperations`` (read lazily)."""

    def __init__(self, datastores: Any, credential: Any, account_url: str | None = None,
                 default_datastore: str = "workspaceblobstore"):
        self._datastores = datastores
        self._default = default_datastore
        self._credential = credential
        self._account_url = account_url.rstrip("/") if account_url else None
        self._cache: dict[str, tuple[str, str, Any]] = {}

    def _datastore(self, name: str) -> tuple[str, str, Any]:
        """(account URL, container, credential) of datastore ``name``."""
        if name not in self._cache:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                ds = self._datastores.get(name, include_secrets=True)
            except ResourceNotFoundError:
                raise NotFoundError(f"Azure ML datastore {name!r} does not exist in this workspace") from None
            creds = getattr(ds, "credentials", None)
            secret = getattr(creds, "account_key", None) or getattr(creds, "sas_token", None)
            account_url = self._account_url or f"{ds.protocol or 'https'}://{ds.account_name}.blob.{ds.endpoint}"
            self._cache[name] = (account_url, ds.container_name, secret or self._credential)
        return self._cache[name]

    def container(self, uri: str) -> tuple[Any, str]:
        """(``ContainerClient``, blob prefix) for a datastore URI or a blob URL."""
        from azure.storage.blob import ContainerClient

        parsed = parse_datastore_uri(uri)
        if parsed:
            account_url, container, secret = self._datastore(parsed[0])
            return ContainerClient(account_url, container, credential=secret), unquote(parsed[1])
        u = urlparse(uri)
        if u.scheme not in ("https", "http") or not u.netloc:
            raise ValidationError("uri", f"{uri!r} is not an azureml:// datastore path or a blob URL")
        parts = unquote(u.path).lstrip("/").split("/", 1)
        if self._account_url and self._account_url.startswith(f"{u.scheme}://{u.netloc}"):
            account_path = urlparse(self._account_url).path.strip("/")
            rest = unquote(u.path).lstrip("/")[len(account_path):].lstrip("/")
            parts = rest.split("/", 1)
            account_url = self._account_url
        else:
            account_url = f"{u.scheme}://{u.netloc}"
        cred: Any = u.query or None
        if cred is None:  # the workspace's own storage (code snapshots, outputs): use its datastore's secret
            ds_url, ds_container, ds_secret = self._datastore(self._default)
            cred = ds_secret if (ds_url.rstrip("/"), ds_container) == (account_url.rstrip("/"), parts[0]) \
                else self._credential
        return ContainerClient(account_url, parts[0], credential=cred), (parts[1] if len(parts) > 1 else "")

    # -- reading ----------------------------------------------------------------------------------------------
    def download(self, uri: str, dest: str) -> str:
        """A single blob -> the file ``dest``; a folder (prefix) -> the directory ``dest``."""
        client, prefix = self.container(uri)
        names = [b.name for b in client.list_blobs(name_starts_with=prefix.rstrip("/"))]
        exact = prefix.rstrip("/")
        if exact in names and not uri.endswith("/"):
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as f:
                client.download_blob(exact).readinto(f)
            return dest
        folder = exact + "/" if exact else ""
        inside = [n for n in names if n.startswith(folder) and not n.endswith(MARKER)]
        if not inside:
            raise NotFoundError(f"nothing stored at {uri}")
        for name in inside:
            target = Path(dest, name[len(folder):])
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as f:
                client.download_blob(name).readinto(f)
        return dest

    def exists(self, uri: str) -> bool:
        client, prefix = self.container(uri)
        return any(True for _ in client.list_blobs(name_starts_with=prefix))

    # -- writing ----------------------------------------------------------------------------------------------
    def upload_local(self, local: str, datastore: str) -> str:
        """Upload a local file or folder once per content; returns its ``azureml://`` URI (``planned_uri``)."""
        path = Path(local)
        base = planned_uri(local, datastore).removesuffix(path.name if path.is_file() else "")
        client, prefix = self.container(base)
        marker = prefix + MARKER
        if not any(b.name == marker for b in client.list_blobs(name_starts_with=marker)):
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for f in files:
                rel = f.name if path.is_file() else f.relative_to(path).as_posix()
                with open(f, "rb") as fh:
                    client.upload_blob(prefix + rel, fh, overwrite=True)
            client.upload_blob(marker, b"", overwrite=True)
        return base + path.name if path.is_file() else base

