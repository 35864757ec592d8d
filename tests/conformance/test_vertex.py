"""The conformance suite against the Vertex AI rig: fake Vertex REST server + gcp-storage-emulator, with every
job's bundle executed for real by the rig's contract runner and every endpoint served by the real container
command (see ``tests/rigs/vertex.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudml import Estimator
from tests.conformance.isolation import RigIsolation
from tests.conformance.suite import ProviderConformance, Rig
from tests.rigs.vertex_fixtures import (  # noqa: F401  (fixtures)
    _vertex_servers,
    fake_vertex,
    gcs_emulator,
    vertex_options,
    vertex_rig,
)

# Vertex has prebuilt training images up to PyTorch 2.4 (cloudml's default, 2.5, has none).
FRAMEWORK_VERSION = "2.4"


class VertexRig(Rig):
    def estimator(self, project: str, **kwargs: Any) -> Estimator:
        kwargs.setdefault("framework_version", FRAMEWORK_VERSION)
        return super().estimator(project, **kwargs)


@pytest.fixture
def rig(vertex_options: dict[str, Any], vertex_rig: Any, gcs_emulator: Any) -> Rig:  # noqa: F811
    client = gcs_emulator.client()

    def stage(path: Path, name: str) -> str:
        prefix = f"conformance/{name}-{abs(hash(str(path)))}/"
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            client.bucket(gcs_emulator.bucket).blob(prefix + file.relative_to(path).as_posix()) \
                .upload_from_filename(str(file))
        return f"gs://{gcs_emulator.bucket}/{prefix}"

    return VertexRig(provider="vertex", options={**vertex_options, "poll_interval": (0.1, 0.5)}, stage=stage,
                     instance_type="n1-standard-4", deploy_instance_type="n1-standard-2",
                     request_count=lambda: len(vertex_rig.requests))


class TestVertex(ProviderConformance, RigIsolation):
    pass
