"""TensorFlow on the SageMaker rig: the template trains in the contract runner (checkpoints through an S3
CheckpointConfig, two hosts under MultiWorkerMirroredStrategy), exports to ``model/1/`` and is served from the
model.tar.gz on moto S3 by the rig's endpoint container."""

from __future__ import annotations

import pytest

from tests.conformance.suite import Rig
from tests.rigs.sagemaker import BUCKET, SageMakerRig
from tests.rigs.sagemaker_fixtures import _sagemaker_server, sagemaker_rig  # noqa: F401  (fixtures)
from tests.tf.suite import TensorFlowConformance


@pytest.fixture
def rig(sagemaker_rig: SageMakerRig) -> Rig:  # noqa: F811
    return Rig(provider="sagemaker", options=sagemaker_rig.provider_options(), instance_type="ml.m5.xlarge",
               deploy_instance_type="ml.m5.large", request_count=lambda: len(sagemaker_rig.requests),
               extra={"checkpoint_uri": lambda name: f"s3://{BUCKET}/{name}"})


class TestSageMakerTensorFlow(TensorFlowConformance):
    pass
