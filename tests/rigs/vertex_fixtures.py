"""pytest fixtures for the Vertex rig. Import them into a conftest or test module
(``from tests.rigs.vertex_fixtures import fake_vertex, gcs_emulator, vertex_options, vertex_provider, vertex_rig``),
or list ``"tests.rigs.vertex_fixtures"`` in a root ``conftest.py``'s ``pytest_plugins``.

- ``gcs_emulator`` (session): gcp-storage-emulator on 127.0.0.1 with the staging bucket;
- ``fake_vertex`` (session): the fake Vertex REST server (``tests.rigs.vertex``); reset after every test by
  ``vertex_rig`` (jobs and model servers stopped, faults and recorded requests cleared). When the last user is
  done it fails if any model or endpoint is left that a test did not delete (no orphans);
- ``vertex_options``: provider options pointing at both (anonymous credentials, 10 s API timeout);
- ``vertex_provider``: a ``VertexProvider`` built from them.

Modules that import these fixtures each get their own fixture definitions; the servers behind them are shared
(reference-counted), so one session runs one emulator and one fake server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.rigs import ledger
from tests.rigs.gcs import GcsEmulator
from tests.rigs.vertex import FakeVertex

_shared: dict[str, Any] = {"users": 0}


def _acquire() -> tuple[GcsEmulator, FakeVertex]:
    if _shared["users"] == 0:
        emulator = GcsEmulator().start()
        workdir = tempfile.TemporaryDirectory(prefix="fake-vertex-")
        _shared.update(emulator=emulator, workdir=workdir,
                       fake=FakeVertex(emulator.url, workdir.name).start())
    _shared["users"] += 1
    return _shared["emulator"], _shared["fake"]


def _release() -> None:
    _shared["users"] -= 1
    if _shared["users"] == 0:
        fake: FakeVertex = _shared.pop("fake")
        left = fake.leftovers()
        ledger.record("vertex", {"models": left["models"], "endpoints": left["endpoints"]})
        fake.stop()
        _shared.pop("emulator").stop()
        _shared.pop("workdir").cleanup()
        assert not left["models"] and not left["endpoints"], f"tests left Vertex resources behind: {left}"


@pytest.fixture(scope="session")
def _vertex_servers() -> Iterator[tuple[GcsEmulator, FakeVertex]]:
    yield _acquire()
    _release()


@pytest.fixture(scope="session")
def gcs_emulator(_vertex_servers: tuple[GcsEmulator, FakeVertex]) -> GcsEmulator:
    return _vertex_servers[0]


@pytest.fixture(scope="session")
def fake_vertex(_vertex_servers: tuple[GcsEmulator, FakeVertex]) -> FakeVertex:
    return _vertex_servers[1]


@pytest.fixture
def vertex_rig(fake_vertex: FakeVertex) -> Iterator[FakeVertex]:
    yield fake_vertex
    fake_vertex.reset()


@pytest.fixture
def vertex_options(vertex_rig: FakeVertex, gcs_emulator: GcsEmulator) -> dict[str, Any]:
    return {
        "project": "test-project", "location": "us-central1", "staging_bucket": f"gs://{gcs_emulator.bucket}",
        "api_endpoint": vertex_rig.url, "storage_endpoint": gcs_emulator.url, "logging_endpoint": vertex_rig.url,
        "credentials": "anonymous", "timeout": 10,
    }


@pytest.fixture
def vertex_provider(vertex_options: dict[str, Any]) -> Any:
    from cloudml.providers.vertex import VertexProvider

    return VertexProvider(**vertex_options)
