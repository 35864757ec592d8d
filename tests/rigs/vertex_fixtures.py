"""pytest fixtures for the Vertex rig (load with ``pytest_plugins = ["tests.rigs.vertex_fixtures"]``).

- ``gcs_emulator`` (session): gcp-storage-emulator on 127.0.0.1 with the staging bucket;
- ``fake_vertex`` (session): the fake Vertex REST server (``tests.rigs.vertex``); reset after every test by
  ``vertex_rig`` (jobs and model servers stopped, faults and recorded requests cleared). At the end of the session
  it fails if any model or endpoint is left that a test did not delete (no orphans);
- ``vertex_options``: provider options pointing at both (anonymous credentials, 10 s API timeout);
- ``vertex_provider``: a ``VertexProvider`` built from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.rigs.gcs import GcsEmulator
from tests.rigs.vertex import FakeVertex


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    with GcsEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def fake_vertex(gcs_emulator: GcsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeVertex]:
    fake = FakeVertex(gcs_emulator.url, str(tmp_path_factory.mktemp("fake-vertex"))).start()
    yield fake
    left = fake.leftovers()
    fake.stop()
    assert not left["models"] and not left["endpoints"], f"tests left Vertex resources behind: {left}"


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
