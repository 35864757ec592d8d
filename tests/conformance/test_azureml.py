"""The conformance suite against the Azure ML provider: fake Azure ML control plane (real HTTP) + Azurite."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conformance.isolation import RigIsolation
from tests.conformance.suite import ProviderConformance, Rig
from tests.rigs.azureml import WORKSPACE_CONTAINER
from tests.rigs.azureml_fixtures import azurite, fake_aml, provider_options  # noqa: F401


@pytest.fixture
def rig(fake_aml, provider_options) -> Rig:  # noqa: F811 - fixtures imported above
    def stage(path: Path, name: str) -> str:
        prefix = f"staged/{name}-{uuid.uuid4().hex[:8]}"
        fake_aml.azurite.upload_folder(WORKSPACE_CONTAINER, prefix, path)
        return f"azureml://datastores/workspaceblobstore/paths/{prefix}/"

    return Rig(provider="azureml", options=provider_options, stage=stage, instance_type="Standard_D2s_v3",
               deploy_instance_type="Standard_DS3_v2", request_count=lambda: len(fake_aml.requests),
               extra={"fake": fake_aml})


class TestAzureML(ProviderConformance, RigIsolation):
    pass
