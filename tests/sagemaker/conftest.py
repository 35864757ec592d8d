"""Fixtures for the SageMaker rig: one moto server per test session, reset before each test."""

from __future__ import annotations

import os

import pytest

from tests.rigs.sagemaker import SageMakerRig, fake_aws_env


@pytest.fixture(scope="session")
def sagemaker_rig_session(tmp_path_factory: pytest.TempPathFactory):
    saved = {k: os.environ.get(k) for k in (*fake_aws_env(), "AWS_PROFILE", "AWS_ENDPOINT_URL",
                                            "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    os.environ.update(fake_aws_env())
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    empty = tmp_path_factory.mktemp("aws")
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(empty / "none")
    rig = SageMakerRig(tmp_path_factory.mktemp("sagemaker-rig")).start()
    try:
        yield rig
    finally:
        rig.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def sagemaker_rig(sagemaker_rig_session: SageMakerRig):
    """The rig, reset; after the test, nothing billable may remain that the test did not delete."""
    sagemaker_rig_session.reset()
    yield sagemaker_rig_session
    left = {kind: names for kind, names in sagemaker_rig_session.leftovers().items() if names}
    sagemaker_rig_session._clear()
    assert not left, f"the test left SageMaker resources behind: {left}"


@pytest.fixture
def provider(sagemaker_rig: SageMakerRig):
    from cloudml.providers.sagemaker import SageMakerProvider

    return SageMakerProvider(**sagemaker_rig.provider_options())


