"""Faults injected at the rig's edge (the moto server's HTTP front): transient ones are retried by botocore's
retry configuration, the rest become the cloudml error a user can act on; creates stay idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudml import Estimator
from cloudml.errors import CapacityError, CredentialsError
from cloudml.providers.base import JobState
from tests.conformance.suite import PROJECTS, write_regression_data
from tests.rigs.sagemaker import SageMakerRig


def estimator(rig: SageMakerRig, project: str = "sm_style", instance_type: str = "ml.m5.xlarge",
              **options: Any) -> Estimator:
    return Estimator("train.py", PROJECTS / project, provider="sagemaker", instance_type=instance_type,
                     provider_options=rig.provider_options(**options), hyperparameters={"epochs": 2})


def training_jobs(rig: SageMakerRig) -> list[str]:
    return [j["TrainingJobName"] for j in rig.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]


def test_throttling_5xx_and_resets_are_retried_and_the_job_completes(sagemaker_rig: SageMakerRig,
                                                                     tmp_path: Path) -> None:
    rig = sagemaker_rig
    rig.fail("CreateTrainingJob", "ThrottlingException", 400, times=2, message="Rate exceeded")
    rig.fail("PutObject", "SlowDown", 503)
    rig.fail("DescribeTrainingJob", "ServiceUnavailable", 503, times=2)
    rig.fail("GetLogEvents", "InternalFailure", 500)
    rig.fail("DescribeLogStreams", reset=True)
    job = estimator(rig).fit({"training": str(write_regression_data(tmp_path / "d"))})
    assert job.state == JobState.COMPLETED
    assert len(rig.sent("CreateTrainingJob")) == 3 and training_jobs(rig) == [job.name]
    assert all(f.times == 0 for f in rig.faults), "every injected fault was hit"


def test_a_create_that_got_through_before_the_error_makes_one_job(sagemaker_rig: SageMakerRig) -> None:
    rig = sagemaker_rig
    rig.fail("CreateTrainingJob", "InternalFailure", 500, after=True)      # moto created it, the client saw 500
    job = estimator(rig).fit({"training": str(write_regression_data(Path(rig.workdir) / "d1"))})
    assert job.state == JobState.COMPLETED
    assert len(rig.sent("CreateTrainingJob")) == 2 and training_jobs(rig) == [job.name] and len(rig.jobs) == 1


def test_a_create_answered_after_the_read_timeout_makes_one_job(sagemaker_rig: SageMakerRig) -> None:
    rig = sagemaker_rig
    rig.fail("CreateTrainingJob", delay=2.5)
    job = estimator(rig, read_timeout=1).fit(
        {"training": str(write_regression_data(Path(rig.workdir) / "d2"))}, logs=False)
    assert job.state == JobState.COMPLETED
    assert len(rig.sent("CreateTrainingJob")) == 2 and training_jobs(rig) == [job.name]


def test_expired_credentials_are_reported_as_such(sagemaker_rig: SageMakerRig) -> None:
    rig = sagemaker_rig
    rig.fail("CreateTrainingJob", "ExpiredTokenException", 400,
             message="The security token included in the request is expired")
    with pytest.raises(CredentialsError, match="expired"):
        estimator(rig, "failing").fit()
    assert len(rig.sent("CreateTrainingJob")) == 1, "not retried"
    assert training_jobs(rig) == []


def test_resource_limit_is_a_capacity_error_naming_the_instance_type(sagemaker_rig: SageMakerRig) -> None:
    rig = sagemaker_rig
    rig.fail("CreateTrainingJob", "ResourceLimitExceeded", 400, message="The account-level service limit "
             "'ml.p3.2xlarge for training job usage' is 0 Instances, with current utilization of 0 Instances")
    with pytest.raises(CapacityError) as caught:
        estimator(rig, "failing", instance_type="ml.p3.2xlarge").fit()
    assert caught.value.provider == "sagemaker" and caught.value.instance_type == "ml.p3.2xlarge"
    assert str(caught.value).startswith("sagemaker refused ml.p3.2xlarge")
    assert training_jobs(rig) == []
