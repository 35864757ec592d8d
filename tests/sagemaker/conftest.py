"""The SageMaker rig's fixtures (see ``tests/rigs/sagemaker_fixtures.py``); ``provider`` is the provider under test."""

from typing import Any

import pytest

from tests.rigs.sagemaker_fixtures import _sagemaker_server, sagemaker_provider, sagemaker_rig

__all__ = ["_sagemaker_server", "provider", "sagemaker_provider", "sagemaker_rig"]


@pytest.fixture
def provider(sagemaker_provider: Any) -> Any:
    return sagemaker_provider
