"""Azurite (npm ``azurite-blob``) for the Azure rigs: in memory, no telemetry, bound to 127.0.0.1 on a free port.

``find_azurite`` looks in ``$CLOUDML_AZURITE`` (the executable or an npm prefix holding it), ``.azurite/`` in the
repository (``npm install --prefix .azurite azurite@3.35.0``) and ``PATH``. The well-known ``devstoreaccount1``
credentials are Azurite's published development key, not a secret.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.rigs import stop_process

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WORKSPACE_CONTAINER = "azureml-blobstore-cloudml"
ARTIFACT_CONTAINER = "azureml"



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_azurite() -> str | None:
    """``azurite-blob``: ``$CLOUDML_AZURITE`` (the executable or the npm prefix holding it), ``.azurite/`` in the
    repository (``npm install --prefix .azurite azurite@3.35.0``), or on ``PATH``."""
    repo = Path(__file__).resolve().parents[2]
    candidates = []
    if os.environ.get("CLOUDML_AZURITE"):
        given = Path(os.environ["CLOUDML_AZURITE"])
        candidates += [given, given / "node_modules" / ".bin" / "azurite-blob"]
    candidates.append(repo / ".azurite" / "node_modules" / ".bin" / "azurite-blob")
    on_path = shutil.which("azurite-blob")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return None


class Azurite:
    """The Azurite blob service on 127.0.0.1, in memory; ``stop()`` ends it."""

    def __init__(self, executable: str):
        self.executable = executable
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="cloudml-azurite-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.account_url};")

    def start(self, timeout: float = 30) -> Azurite:
        self.proc = subprocess.Popen(
            [self.executable, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--inMemoryPersistence",
             "--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose"],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azurite exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"azurite did not listen on 127.0.0.1:{self.port} within {timeout}s")

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def service(self):  # -> azure.storage.blob.BlobServiceClient
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def container_sas_url(self, container: str, hours: float = 2) -> str:
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        sas = generate_container_sas(ACCOUNT, container, account_key=ACCOUNT_KEY,
                                     permission=ContainerSasPermissions(read=True, write=True, list=True, add=True,
                                                                        create=True, delete=True),
                                     expiry=datetime.now(timezone.utc) + timedelta(hours=hours))
        return f"{self.account_url}/{container}?{sas}"

    def blob_sas_url(self, container: str, blob: str) -> str:
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        sas = generate_blob_sas(ACCOUNT, container, blob, account_key=ACCOUNT_KEY,
                                permission=BlobSasPermissions(read=True),
                                expiry=datetime.now(timezone.utc) + timedelta(hours=2))
        return f"{self.account_url}/{container}/{blob}?{sas}"

    # -- folder helpers -----------------------------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.service().create_container(container)
        except ResourceExistsError:
            pass

    def download_prefix(self, container: str, prefix: str, dest: str | Path) -> int:
        """Every blob under ``prefix`` -> ``dest`` keeping the relative layout; returns how many."""
        client = self.service().get_container_client(container)
        prefix = prefix.strip("/")
        count = 0
        for blob in client.list_blobs(name_starts_with=prefix):
            rel = blob.name[len(prefix):].lstrip("/") if prefix else blob.name
            if not rel:  # the prefix is a single file
                rel = os.path.basename(blob.name)
            target = Path(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.download_blob(blob.name).readall())
            count += 1
        return count

    def upload_folder(self, container: str, prefix: str, src: str | Path) -> int:
        self.ensure_container(container)
        client = self.service().get_container_client(container)
        count = 0
        for path in sorted(Path(src).rglob("*")):
            if path.is_file():
                name = f"{prefix.strip('/')}/{path.relative_to(src).as_posix()}"
                with open(path, "rb") as f:
                    client.upload_blob(name, f, overwrite=True)
                count += 1
        return count

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        try:
            return [b.name for b in self.service().get_container_client(container).list_blobs(name_starts_with=prefix)]
        except Exception:
            return []
