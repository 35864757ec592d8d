"""The provider object itself: lazy imports, no I/O in the constructor, a missing SDK named, settings errors
raised before any request, stop/list semantics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudml import Estimator
from cloudml.errors import ConfigurationError, NotFoundError, UnsupportedFeatureError, ValidationError
from cloudml.providers.sagemaker import SageMakerProvider
from tests.conformance.suite import PROJECTS, write_regression_data
from tests.rigs.sagemaker import SageMakerRig

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}).stdout.strip()


def test_getting_the_provider_imports_no_sdk_and_makes_no_client() -> None:
    out = run("import sys, cloudml.providers as p\n"
              "sm = p.get('sagemaker', region='us-east-1', bucket='b-1', role_arn='arn:aws:iam::1:role/r')\n"
              "print(sorted(m for m in ('boto3', 'botocore', 'sagemaker') if m in sys.modules), sm._clients)")
    assert out == "[] {}"


def test_a_missing_boto3_names_the_extra() -> None:
    out = run("import sys\nsys.modules['boto3'] = None\nsys.modules['botocore'] = None\n"
              "from cloudml.providers.sagemaker import SageMakerProvider\n"
              "try:\n    SageMakerProvider(region='us-east-1').describe_job('x')\n"
              "except ImportError as e:\n    print(type(e).__name__, e)")
    assert out.startswith("MissingDependencyError") and "pip install 'cloudml[sagemaker]'" in out


def test_missing_bucket_and_role_are_refused_before_any_request(sagemaker_rig: SageMakerRig) -> None:
    est = Estimator("train.py", PROJECTS / "failing", provider="sagemaker", instance_type="ml.m5.xlarge",
                    provider_options={"region": "us-east-1", "endpoint_url": sagemaker_rig.url})
    with pytest.raises(ConfigurationError) as caught:
        est.fit()
    assert "bucket" in str(caught.value) and "role_arn" in str(caught.value)
    assert sagemaker_rig.requests == []


def test_unsupported_versions_and_features_are_refused_before_any_request(sagemaker_rig: SageMakerRig) -> None:
    est = Estimator("train.py", PROJECTS / "failing", provider="sagemaker", instance_type="ml.m5.xlarge",
                    framework_version="2.13", provider_options=sagemaker_rig.provider_options())
    with pytest.raises(ValidationError) as caught:
        est.fit()
    assert caught.value.field == "framework_version" and "2.10" in str(caught.value)
    est = Estimator("train.py", PROJECTS / "failing", provider="sagemaker", instance_type="ml.m5.xlarge",
                    framework="tensorflow", instance_count=2, distribution="parameter_server",
                    provider_options=sagemaker_rig.provider_options())
    with pytest.raises(UnsupportedFeatureError, match="multi_worker_mirrored"):
        est.fit()
    assert sagemaker_rig.requests == []


def test_stop_and_describe_of_unknown_or_finished_jobs(provider: SageMakerProvider, sagemaker_rig: SageMakerRig,
                                                       tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        provider.describe_job("no-such-job")
    with pytest.raises(NotFoundError):
        provider.stop_job("no-such-job")
    est = Estimator("train.py", PROJECTS / "sm_style", provider="sagemaker", instance_type="ml.m5.xlarge",
                    provider_options=sagemaker_rig.provider_options(), hyperparameters={"epochs": 1})
    job = est.fit(str(write_regression_data(tmp_path / "data")), logs=False)
    provider.stop_job(job.name)   # finished: a no-op
    assert provider.describe_job(job.name).state.value == "Completed"
    assert provider.read_logs("no-such-job") == ([], {})


def test_a_bucket_that_does_not_exist_says_what_to_set(sagemaker_rig: SageMakerRig) -> None:
    est = Estimator("train.py", PROJECTS / "failing", provider="sagemaker", instance_type="ml.m5.xlarge",
                    provider_options=sagemaker_rig.provider_options(bucket="no-such-bucket"))
    with pytest.raises(ConfigurationError, match="'no-such-bucket' does not exist.*CLOUDML_SAGEMAKER_BUCKET"):
        est.fit()
    assert not sagemaker_rig.sent("CreateTrainingJob")
