"""pytest fixtures for the Azure ML rig: ``azurite`` (session), ``fake_aml``, ``provider_options``, ``provider``.

Import them into a conftest or test module (``from tests.rigs.azureml_fixtures import *``). Azurite is found through
``$CLOUDML_AZURITE`` (the ``azurite-blob`` executable or an npm prefix holding it), ``.azurite/`` in the repository
(``npm install --prefix .azurite azurite@3.35.0``, what ``scripts/test`` runs) or ``PATH``. Missing locally, the tests
that need it are skipped with that instruction; missing in CI (``CI`` set), they fail. One Azurite process serves
every module that imports these fixtures (reference-counted), bound to 127.0.0.1 and stopped at the session's end.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.rigs.azureml import Azurite, FakeAzureML, find_azurite

INSTALL = "npm install --prefix .azurite azurite@3.35.0 (or set CLOUDML_AZURITE to azurite-blob)"
_shared: dict[str, Any] = {"server": None, "users": 0}


@pytest.fixture(scope="session")
def azurite():
    exe = find_azurite()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"Azurite is not installed: {INSTALL}")
        pytest.skip(f"Azurite is not installed: {INSTALL}")
    if _shared["server"] is None:
        _shared["server"] = Azurite(exe).start()
    _shared["users"] += 1
    yield _shared["server"]
    _shared["users"] -= 1
    if _shared["users"] == 0:
        _shared["server"].stop()
        _shared["server"] = None


@pytest.fixture
def fake_aml(azurite):
    """A fresh fake workspace per test. At the end, an endpoint or model the test left behind fails it: cloudml
    must delete what it creates (jobs still running are canceled by the fake's stop)."""
    fake = FakeAzureML(azurite).start()
    yield fake
    leaks = [f"endpoint {n}" for n in fake.live("onlineEndpoints")] + [f"model {n}" for n in fake.live("models")]
    fake.stop()
    if leaks:
        pytest.fail("resources left behind in the fake Azure ML workspace: " + ", ".join(leaks))


@pytest.fixture
def provider_options(fake_aml):
    return {**fake_aml.client_options(), "compute": "cpu-cluster", "retry_total": 2}


@pytest.fixture
def provider(provider_options):
    from cloudml.providers.azureml import AzureMLProvider

    return AzureMLProvider(**provider_options)


__all__ = ["azurite", "fake_aml", "provider", "provider_options"]
