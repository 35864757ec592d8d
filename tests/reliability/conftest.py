"""Every rig's fixtures, for tests that span providers (failover, cleanup, crash recovery)."""

from tests.rigs.azureml_fixtures import azurite, fake_aml, provider_options
from tests.rigs.sagemaker_fixtures import _sagemaker_server, sagemaker_provider, sagemaker_rig
from tests.rigs.vertex_fixtures import (
    _vertex_servers,
    fake_vertex,
    gcs_emulator,
    vertex_options,
    vertex_provider,
    vertex_rig,
)

__all__ = ["_sagemaker_server", "_vertex_servers", "azurite", "fake_aml", "fake_vertex", "gcs_emulator",
           "provider_options", "sagemaker_provider", "sagemaker_rig", "vertex_options", "vertex_provider",
           "vertex_rig"]
