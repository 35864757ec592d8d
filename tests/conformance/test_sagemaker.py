"""The conformance suite against the SageMaker rig: boto3 over HTTP to a moto server whose edge runs the
uploaded bundles through the contract runner and serves deployed models with the serving adapter."""

from __future__ import annotations

import pytest

from tests.conformance.isolation import RigIsolation
from tests.conformance.suite import ProviderConformance, Rig
from tests.rigs.sagemaker import SageMakerRig
from tests.rigs.sagemaker_fixtures import _sagemaker_server, sagemaker_rig  # noqa: F401  (fixtures)


@pytest.fixture
def rig(sagemaker_rig: SageMakerRig) -> Rig:  # noqa: F811
    return Rig(provider="sagemaker", options=sagemaker_rig.provider_options(), instance_type="ml.m5.xlarge",
               deploy_instance_type="ml.m5.large", request_count=lambda: len(sagemaker_rig.requests))


class TestSageMaker(ProviderConformance, RigIsolation):
    pass
