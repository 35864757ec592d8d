"""TensorFlow on the Vertex rig: the rig-neutral expectations of ``tests/tf/suite.py`` (the unmodified TensorFlow
template: train, resume from a gs:// checkpoint, export, serve; two workers under MultiWorkerMirroredStrategy with
Vertex's chief + worker pools and its own ``TF_CONFIG``/``CLUSTER_SPEC``)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conformance.test_vertex import rig as vertex_conformance_rig  # noqa: F401
from tests.rigs.vertex_fixtures import (  # noqa: F401  (fixtures)
    _vertex_servers,
    fake_vertex,
    gcs_emulator,
    vertex_options,
    vertex_rig,
)
from tests.tf.suite import TensorFlowConformance

_runs = itertools.count()


@pytest.fixture
def rig(vertex_conformance_rig: Any, gcs_emulator: Any, tmp_path: Any) -> Any:  # noqa: F811
    run = f"{tmp_path.name}-{next(_runs)}"
    vertex_conformance_rig.extra["checkpoint_uri"] = lambda name: f"gs://{gcs_emulator.bucket}/tf/{run}/{name}/"
    return vertex_conformance_rig


class TestVertexTensorFlow(TensorFlowConformance):
    pass
