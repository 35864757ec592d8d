"""pytest fixtures for the SageMaker rig. Import them into a conftest or test module
(``from tests.rigs.sagemaker_fixtures import sagemaker_rig, sagemaker_provider``), or list
``"tests.rigs.sagemaker_fixtures"`` in a root ``conftest.py``'s ``pytest_plugins``.

- ``sagemaker_rig``: the moto server with its edge (``tests.rigs.sagemaker``), reset before each test (empty
  account with the rig's bucket); after the test it fails if an endpoint, endpoint config, model or running job
  is left that the test did not delete (no orphans);
- ``sagemaker_provider``: a ``SageMakerProvider`` pointed at it (fast polls).

While any rig fixture is in use the process has fake AWS credentials in its environment and no AWS profile or
config file; modules that import these fixtures each get their own definitions, but share one server
(reference-counted), so a session runs one moto server.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.rigs import ledger
from tests.rigs.sagemaker import SageMakerRig, fake_aws_env

_shared: dict[str, Any] = {"users": 0}
_ENV = (*fake_aws_env(), "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _acquire() -> SageMakerRig:
    if _shared["users"] == 0:
        workdir = tempfile.TemporaryDirectory(prefix="sagemaker-rig-")
        saved = {k: os.environ.get(k) for k in _ENV}
        os.environ.update(fake_aws_env())
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(workdir.name, "none")
        _shared.update(workdir=workdir, saved=saved, rig=SageMakerRig(Path(workdir.name)).start())
    _shared["users"] += 1
    return _shared["rig"]


def _release() -> None:
    _shared["users"] -= 1
    if _shared["users"] == 0:
        _shared.pop("rig").stop()
        _shared.pop("workdir").cleanup()
        for key, value in _shared.pop("saved").items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def _sagemaker_server() -> Iterator[SageMakerRig]:
    yield _acquire()
    _release()


@pytest.fixture
def sagemaker_rig(_sagemaker_server: SageMakerRig) -> Iterator[SageMakerRig]:
    """The rig, reset; after the test, nothing billable may remain that the test did not delete."""
    _sagemaker_server.reset()
    yield _sagemaker_server
    left = {kind: names for kind, names in _sagemaker_server.leftovers().items() if names}
    ledger.record("sagemaker", left)
    _sagemaker_server._clear()
    assert not left, f"the test left SageMaker resources behind: {left}"


@pytest.fixture
def sagemaker_provider(sagemaker_rig: SageMakerRig) -> Any:
    from cloudml.providers.sagemaker import SageMakerProvider

    return SageMakerProvider(**sagemaker_rig.provider_options())
