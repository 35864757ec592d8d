"""Fixtures for the Azure ML provider tests (Azurite + the fake Azure ML control plane)."""

from tests.rigs.azureml_fixtures import azurite, fake_aml, provider, provider_options  # noqa: F401
