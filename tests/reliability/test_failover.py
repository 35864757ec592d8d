"""Failover (issue 10): SageMaker refuses with ResourceLimitExceeded on the moto rig; with ``failover=True`` the
job lands on the next-cheapest feasible offer (Vertex, on its rig) and completes; without it the CapacityError
names the refused instance type and that next offer. Nothing is submitted twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudml import Estimator
from cloudml.errors import CapacityError
from cloudml.providers.base import JobState
from tests.conformance.suite import PROJECTS, write_regression_data
from tests.rigs.sagemaker import SageMakerRig

LIMIT = ("The account-level service limit 'ml.m5.xlarge for training job usage' is 0 Instances, with current "
         "utilization of 0 Instances and a request delta of 1 Instances.")


def estimator(rig: SageMakerRig, vertex_options: dict[str, Any], **kw: Any) -> Estimator:
    return Estimator("train.py", PROJECTS / "sm_style", provider="sagemaker", instance_type="ml.m5.xlarge",
                     framework_version="2.4", provider_options=rig.provider_options(),
                     failover_options={"vertex": vertex_options}, failover_providers=("sagemaker", "vertex"),
                     hyperparameters={"epochs": 2}, **kw)


def sagemaker_jobs(rig: SageMakerRig) -> list[str]:
    return [j["TrainingJobName"] for j in rig.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]


def test_refused_on_sagemaker_lands_on_vertex_and_completes(sagemaker_rig, vertex_options, vertex_rig,
                                                            tmp_path: Path) -> None:
    sagemaker_rig.fail("CreateTrainingJob", "ResourceLimitExceeded", 400, message=LIMIT)
    job = estimator(sagemaker_rig, vertex_options, failover=True).fit(
        {"training": str(write_regression_data(tmp_path / "d"))}, logs=False)
    assert job.provider.name == "vertex" and job.state == JobState.COMPLETED
    assert [(a.provider, a.instance_type, a.outcome) for a in job.attempts] == [
        ("sagemaker", "ml.m5.xlarge", "refused"), ("vertex", "n1-standard-8", "submitted")]
    assert "service limit" in job.attempts[0].reason
    assert job.name.endswith("-r2") and job.describe().instance_type == "n1-standard-8"
    assert job.model_uri and job.model_uri.startswith("gs://")
    assert sagemaker_jobs(sagemaker_rig) == [] and len(sagemaker_rig.sent("CreateTrainingJob")) == 1


def test_without_failover_the_error_names_the_refused_type_and_the_next_offer(sagemaker_rig, vertex_options,
                                                                             vertex_rig) -> None:
    sagemaker_rig.fail("CreateTrainingJob", "ResourceLimitExceeded", 400, message=LIMIT)
    with pytest.raises(CapacityError) as caught:
        estimator(sagemaker_rig, vertex_options).fit()
    err = caught.value
    assert err.provider == "sagemaker" and err.instance_type == "ml.m5.xlarge"
    assert err.next_offer and err.next_offer.startswith("vertex n1-standard-8 in us-central1")
    assert "refused ml.m5.xlarge" in str(err) and "next feasible offer: vertex n1-standard-8" in str(err)
    assert sagemaker_jobs(sagemaker_rig) == [] and vertex_rig.calls("POST", r"/customJobs$") == []


def test_max_attempts_bounds_the_failover(sagemaker_rig, vertex_options, vertex_rig) -> None:
    sagemaker_rig.fail("CreateTrainingJob", "ResourceLimitExceeded", 400, message=LIMIT)
    with pytest.raises(CapacityError) as caught:
        estimator(sagemaker_rig, vertex_options, failover=True, max_attempts=1).fit()
    assert "vertex n1-standard-8" in str(caught.value) and "tried: sagemaker ml.m5.xlarge" in str(caught.value)
    assert vertex_rig.calls("POST", r"/customJobs$") == []


def test_an_unconfigured_provider_is_not_a_failover_target(sagemaker_rig) -> None:
    sagemaker_rig.fail("CreateTrainingJob", "ResourceLimitExceeded", 400, message=LIMIT)
    est = Estimator("train.py", PROJECTS / "sm_style", provider="sagemaker", instance_type="ml.m5.xlarge",
                    provider_options=sagemaker_rig.provider_options(),
                    failover_providers=("sagemaker", "vertex"), hyperparameters={"epochs": 2})
    with pytest.raises(CapacityError) as caught:
        est.fit()
    # vertex has no options here nor in the config file: the next offer is SageMaker's next-cheapest machine
    assert caught.value.next_offer.startswith("sagemaker ml.g4dn.xlarge in us-east-1")
    assert sagemaker_jobs(sagemaker_rig) == []


@pytest.mark.parametrize("kw", [{"max_attempts": 0}, {"failover": "yes"}, {"failover_providers": ("nope",)},
                                {"failover_options": {"vertex": "x"}}])
def test_bad_failover_settings_are_refused_up_front(kw: dict[str, Any]) -> None:
    from cloudml.errors import ValidationError

    with pytest.raises(ValidationError):
        Estimator("train.py", PROJECTS / "sm_style", provider="local", **kw)


def test_a_job_the_provider_fails_for_capacity_moves_on_too(sagemaker_rig, vertex_options, vertex_rig,
                                                             tmp_path: Path) -> None:
    """Vertex accepts the job, then fails it with RESOURCE_EXHAUSTED (a stockout): fit() moves to SageMaker."""
    vertex_rig.stockout("The zone 'us-central1-a' does not have enough resources available to fulfill the request.")
    est = Estimator("train.py", PROJECTS / "sm_style", provider="vertex", instance_type="n1-standard-8",
                    framework_version="2.4", provider_options=vertex_options, failover=True,
                    failover_options={"sagemaker": sagemaker_rig.provider_options()},
                    failover_providers=("vertex", "sagemaker"), hyperparameters={"epochs": 2})
    job = est.fit({"training": str(write_regression_data(tmp_path / "d"))}, logs=False)
    assert job.provider.name == "sagemaker" and job.state == JobState.COMPLETED
    assert [(a.provider, a.instance_type, a.outcome) for a in job.attempts] == [
        ("vertex", "n1-standard-8", "refused"), ("sagemaker", "ml.m5.xlarge", "submitted")]
    assert "does not have enough resources" in job.attempts[0].reason
    assert sagemaker_jobs(sagemaker_rig) == [job.name]
