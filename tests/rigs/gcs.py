"""A Cloud Storage emulator for tests: ``gcp-storage-emulator`` in its own process group on 127.0.0.1.

``GcsEmulator.start()`` runs ``gcp-storage-emulator start --host 127.0.0.1 --port P --in-memory --default-bucket B``
(the console script is a wrapper whose PID differs from the server's, so ``stop()`` ends the whole process group it
started). ``objects(prefix)`` lists object generations so tests can count uploads on the server itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def storage_client(url: str) -> Any:
    """A google-cloud-storage client for the emulator at ``url`` (anonymous credentials)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": url})


class GcsEmulator:
    def __init__(self, bucket: str = "cloudml-test-staging", port: int | None = None):
        self.bucket = bucket
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> GcsEmulator:
        exe = shutil.which("gcp-storage-emulator", path=os.path.dirname(sys.executable)) or "gcp-storage-emulator"
        self.proc = subprocess.Popen(
            [exe, "start", "--host", "127.0.0.1", "--port", str(self.port), "--in-memory",
             "--default-bucket", self.bucket],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gcp-storage-emulator exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gcp-storage-emulator did not start")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None

    def client(self) -> Any:
        return storage_client(self.url)

    def objects(self, prefix: str = "", bucket: str | None = None) -> dict[str, int]:
        """object name -> generation, for every object under ``prefix``."""
        return {b.name: int(b.generation or 0)
                for b in self.client().list_blobs(bucket or self.bucket, prefix=prefix)}

    def __enter__(self) -> GcsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
