"""The TensorFlow expectations against the Azure ML rig (TensorFlowDistribution -> TF_CONFIG from the platform)."""

from __future__ import annotations

import uuid

import pytest

from tests.conformance.suite import Rig
from tests.conformance.test_azureml import rig as azure_rig  # noqa: F401 - the conformance rig, reused
from tests.rigs.azureml_fixtures import azurite, fake_aml, provider_options  # noqa: F401
from tests.tf.suite import TensorFlowConformance


@pytest.fixture
def rig(azure_rig: Rig) -> Rig:  # noqa: F811
    azure_rig.extra["checkpoint_uri"] = (
        lambda name: f"azureml://datastores/workspaceblobstore/paths/checkpoints/{name}-{uuid.uuid4().hex[:8]}/")
    return azure_rig


class TestAzureMLTensorFlow(TensorFlowConformance):
    pass
