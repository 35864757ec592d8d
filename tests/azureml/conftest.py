"""Fixtures for the Azure ML provider tests: Azurite (npm) + the fake Azure ML control plane.

Azurite is found through ``$CLOUDML_AZURITE`` (the ``azurite-blob`` executable or an npm prefix holding it),
``.azurite/`` in the repository (``npm install --prefix .azurite azurite@3.35.0``) or ``PATH``. Missing locally, the
tests that need it are skipped with that instruction; missing in CI (``CI`` set), they fail.
"""

from __future__ import annotations

import os

import pytest

from tests.rigs.azureml import Azurite, FakeAzureML, find_azurite

INSTALL = "npm install --prefix .azurite azurite@3.35.0 (or set CLOUDML_AZURITE to azurite-blob)"


@pytest.fixture(scope="session")
def azurite():
    exe = find_azurite()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"Azurite is not installed: {INSTALL}")
        pytest.skip(f"Azurite is not installed: {INSTALL}")
    server = Azurite(exe).start()
    yield server
    server.stop()


@pytest.fixture
def fake_aml(azurite):
    fake = FakeAzureML(azurite).start()
    yield fake
    fake.stop()


@pytest.fixture
def provider_options(fake_aml):
    return {**fake_aml.client_options(), "compute": "cpu-cluster", "retry_total": 2}


@pytest.fixture
def provider(provider_options):
    from cloudml.providers.azureml import AzureMLProvider

    return AzureMLProvider(**provider_options)
