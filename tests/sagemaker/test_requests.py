"""The pure request builders: snapshots of what reaches AWS, checked against botocore's service model.

Snapshots live in ``snapshots/*.json``; set ``CLOUDML_UPDATE_SNAPSHOTS=1`` to rewrite them after a deliberate change
(and read the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from cloudml.errors import ConfigurationError, ValidationError
from cloudml.providers import _sagemaker_requests as rq
from cloudml.providers._sagemaker_config import SageMakerSettings, image_uri
from cloudml.providers.base import EndpointState, JobState
from cloudml.spec import Resources, SourceCode, TrainingSpec

SNAPSHOTS = Path(__file__).parent / "snapshots"
CREATED = "1735787045"   # 2025-01-02T03:04:05Z
CODE = "s3://bucket-a/cloudml/code/" + "ab" * 32 + ".tar.gz"
SETTINGS = SageMakerSettings(region="us-east-1", role_arn="arn:aws:iam::111122223333:role/sm", bucket="bucket-a")
SECURE = SageMakerSettings(region="eu-west-1", role_arn="arn:aws:iam::111122223333:role/sm", bucket="bucket-a",
                              prefix="teams/ml", kms_key_id="arn:aws:kms:eu-west-1:111122223333:key/k-1",
                              subnets=("subnet-1", "subnet-2"), security_group_ids=("sg-1",),
                              network_isolation=True, tags={"cost-center": "42"})


def assert_snapshot(name: str, value: Any) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(value, indent=1, sort_keys=True) + "\n"
    if os.environ.get("CLOUDML_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text)
    assert json.loads(path.read_text()) == json.loads(text), f"{name} differs from {path}"


def assert_valid(operation: str, request: dict[str, Any], service: str = "sagemaker") -> None:
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def spec(**kwargs: Any) -> TrainingSpec:
    kwargs.setdefault("resources", Resources(instance_type="ml.m5.xlarge"))
    return TrainingSpec(source=SourceCode("train.py", "."), job_name="train-20250102-030405-abcdef", **kwargs)


def training(s: TrainingSpec, settings: SageMakerSettings = SETTINGS, channels: dict | None = None) -> dict:
    image = rq.validate_training(s, settings)
    request = rq.training_job_request(s, settings, image=image, code_uri=CODE,
                                      channels=channels if channels is not None else dict(s.channels), created=CREATED)
    assert_valid("CreateTrainingJob", request)
    return request


def test_create_training_job() -> None:
    request = training(spec(hyperparameters={"epochs": 3, "lr": 0.1, "optimizer": "adam", "layers": [4, 2]},
                            environment={"MY_FLAG": "1"}, tags={"team": "ml"}),
                       channels={"training": "s3://data/train/", "validation": "s3://data/val/"})
    assert_snapshot("create_training_job", request)
    # every value JSON text, strings included, as the SageMaker SDK sends them (the DLC toolkit json.loads each)
    assert request["HyperParameters"]["layers"] == "[4, 2]" and request["HyperParameters"]["optimizer"] == '"adam"'
    assert {"Key": "cloudml-job", "Value": "train-20250102-030405-abcdef"} in request["Tags"]


def test_create_training_job_spot_kms_vpc_isolation() -> None:
    request = training(spec(resources=Resources(instance_type="ml.g5.xlarge", spot=True, volume_gb=100),
                            max_run_seconds=3600), SECURE, channels={"training": "s3://data/train/"})
    assert_snapshot("create_training_job_spot_secure", request)
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    # spot without a checkpoint_uri still checkpoints, per job, so an interruption resumes
    assert request["CheckpointConfig"] == {"S3Uri": "s3://bucket-a/teams/ml/checkpoints/train-20250102-030405-abcdef",
                                           "LocalPath": "/opt/ml/checkpoints"}
    assert request["OutputDataConfig"]["KmsKeyId"] == request["ResourceConfig"]["VolumeKmsKeyId"] == SECURE.kms_key_id
    assert request["VpcConfig"] == {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]}
    # network isolation: the container cannot reach S3, so the bundle arrives as a channel
    code = [c for c in request["InputDataConfig"] if c["ChannelName"] == "cloudml_code"]
    assert code[0]["DataSource"]["S3DataSource"]["S3Uri"] == CODE
    assert json.loads(request["HyperParameters"]["sagemaker_submit_directory"]) == (
        "/opt/ml/input/data/cloudml_code/" + CODE.rsplit("/", 1)[1])
    assert {"Key": "cost-center", "Value": "42"} in request["Tags"]


@pytest.mark.parametrize("framework, version, distribution, processes", [
    ("pytorch", "2.5", "ddp", 8),                          # torchrun: 8 processes on each of 4 hosts
    ("tensorflow", "2.16", "multi_worker_mirrored", None)])  # one worker per host drives its 8 GPUs
def test_four_nodes_of_eight_gpus(framework: str, version: str, distribution: str, processes: int | None) -> None:
    request = training(spec(framework=framework, framework_version=version, instance_count=4,
                            processes_per_node=processes, distribution=distribution,
                            resources=Resources(instance_type="ml.p4d.24xlarge", accelerator="A100:8"),
                            checkpoint_uri="s3://ckpt/run-1/"))
    assert_snapshot(f"create_training_job_{framework}_4x8", request)
    assert request["ResourceConfig"]["InstanceCount"] == 4
    assert request["Environment"]["CLOUDML_PROCESSES_PER_NODE"] == str(processes or "auto")
    assert request["Environment"]["CLOUDML_DISTRIBUTION"] == distribution
    assert "-gpu-" in request["AlgorithmSpecification"]["TrainingImage"]
    assert request["CheckpointConfig"]["S3Uri"] == "s3://ckpt/run-1/"


def test_gpu_and_cpu_instances_get_the_gpu_and_cpu_images() -> None:
    gpu = training(spec(resources=Resources(instance_type="ml.p3.2xlarge")))["AlgorithmSpecification"]
    cpu = training(spec(resources=Resources(instance_type="ml.m5.xlarge")))["AlgorithmSpecification"]
    assert gpu["TrainingImage"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.4-gpu-py311"
    assert cpu["TrainingImage"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.4-cpu-py311"


def test_unsupported_framework_version_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        rq.validate_training(spec(framework_version="2.13"), SETTINGS)
    assert caught.value.field == "framework_version"
    assert "2.13" in caught.value.problem and "2.10" in str(caught.value.fix) and "2.5" in str(caught.value.fix)
    with pytest.raises(ValidationError) as caught:
        image_uri("pytorch", "2.8", "us-east-1", "ml.m5.xlarge", "inference")   # no 2.8 inference image
    assert "2.6" in str(caught.value.fix)


@pytest.mark.parametrize("bad, field", [
    (dict(resources=Resources()), "resources.instance_type"),
    (dict(resources=Resources(instance_type="n1-standard-4")), "resources.instance_type"),
    (dict(hyperparameters={"sagemaker_program": "x"}), "hyperparameters['sagemaker_program']"),
    (dict(hyperparameters={"blob": "x" * 3000}), "hyperparameters['blob']"),
    (dict(environment={"BIG": "y" * 600}), "environment['BIG']"),
    (dict(tags={"aws:reserved": "1"}), "tags['aws:reserved']"),
])
def test_bad_specs_are_refused_naming_the_field(bad: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rq.validate_training(spec(**bad), SETTINGS)
    assert caught.value.field == field


def test_missing_settings_say_what_to_set() -> None:
    with pytest.raises(ConfigurationError) as caught:
        rq.validate_training(spec(), SageMakerSettings(region="us-east-1"))
    text = str(caught.value)
    assert "role_arn" in text and "CLOUDML_SAGEMAKER_ROLE_ARN" in text
    assert "bucket" in text and "CLOUDML_SAGEMAKER_BUCKET" in text
    with pytest.raises(ConfigurationError, match="not an IAM role ARN"):
        SageMakerSettings(region="us-east-1", role_arn="my-role", bucket="b-1").require()


def test_settings_from_arguments_then_environment() -> None:
    env = {"CLOUDML_SAGEMAKER_BUCKET": "env-bucket", "CLOUDML_SAGEMAKER_ROLE_ARN": "arn:aws:iam::1:role/r",
           "AWS_DEFAULT_REGION": "eu-west-1", "CLOUDML_SAGEMAKER_SUBNETS": "subnet-a, subnet-b",
           "CLOUDML_SAGEMAKER_TAGS": "team=ml,owner=me", "CLOUDML_SAGEMAKER_MAX_ATTEMPTS": "9",
           "CLOUDML_SAGEMAKER_NETWORK_ISOLATION": "true"}
    s = SageMakerSettings.from_options({"bucket": "arg-bucket"}, env)
    assert s.bucket == "arg-bucket" and s.role_arn == "arn:aws:iam::1:role/r" and s.region == "eu-west-1"
    assert s.subnets == ("subnet-a", "subnet-b") and s.tags == {"team": "ml", "owner": "me"}
    assert s.max_attempts == 9 and s.network_isolation is True
    with pytest.raises(ValidationError, match="unknown SageMaker option"):
        SageMakerSettings.from_options({"bukket": "x"}, {})
    with pytest.raises(ValidationError, match="retry mode"):
        SageMakerSettings.from_options({"retry_mode": "forever"}, {})


def test_serving_requests() -> None:
    model = rq.model_request("ep-1", SECURE, image="img:1", model_data_url="s3://bucket-a/m/model.tar.gz",
                             program="inference.py", environment={"LOG_LEVEL": "debug"}, tags={"team": "ml"},
                             created=CREATED)
    config = rq.endpoint_config_request("ep-1", SECURE, model_name="ep-1", instance_type="ml.m5.large",
                                        instance_count=2, tags={"team": "ml"}, created=CREATED)
    endpoint = rq.endpoint_request("ep-1", SECURE, config_name="ep-1", tags={"team": "ml"}, created=CREATED)
    target = rq.scalable_target_request("ep-1", SECURE, min_replicas=2, max_replicas=5, tags={"team": "ml"},
                                        created=CREATED)
    policy = rq.scaling_policy_request("ep-1", 70.0)
    for op, request in (("CreateModel", model), ("CreateEndpointConfig", config), ("CreateEndpoint", endpoint)):
        assert_valid(op, request)
    assert_valid("RegisterScalableTarget", target, "application-autoscaling")
    assert_valid("PutScalingPolicy", policy, "application-autoscaling")
    assert_snapshot("serving_requests", {"CreateModel": model, "CreateEndpointConfig": config,
                                         "CreateEndpoint": endpoint, "RegisterScalableTarget": target,
                                         "PutScalingPolicy": policy})
    env = model["PrimaryContainer"]["Environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py" and env["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert config["KmsKeyId"] == SECURE.kms_key_id and model["VpcConfig"]["Subnets"] == ["subnet-1", "subnet-2"]


@pytest.mark.parametrize("status, secondary, state", [
    ("InProgress", "Starting", JobState.PENDING), ("InProgress", "Downloading", JobState.PENDING),
    ("InProgress", "Training", JobState.RUNNING), ("Completed", "Completed", JobState.COMPLETED),
    ("Failed", "Failed", JobState.FAILED), ("Stopping", "Stopping", JobState.STOPPING),
    ("Stopped", "MaxRuntimeExceeded", JobState.STOPPED)])
def test_job_states(status: str, secondary: str, state: JobState) -> None:
    assert rq.job_state(status, secondary) is state


def test_job_info_reads_what_attach_needs() -> None:
    request = training(spec(hyperparameters={"epochs": 3, "name": "x"}))
    desc = {**request, "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
            "FailureReason": "AlgorithmError: train.py exited with code 3 after 1.0s", "BillableTimeInSeconds": 12}
    info = rq.job_info(desc, "us-east-1")
    assert (info.state, info.exit_code, info.billable_seconds) == (JobState.FAILED, 3, 12.0)
    assert info.hyperparameters == {"epochs": 3, "name": "x"}
    assert (info.framework, info.framework_version, info.entry_point) == ("pytorch", "2.4", "train.py")
    assert (info.instance_type, info.instance_count, info.code_uri) == ("ml.m5.xlarge", 1, CODE)
    assert rq.ENDPOINT_STATES["OutOfService"] is EndpointState.FAILED


def test_a_job_failed_for_capacity_says_so() -> None:
    request = training(spec())
    desc = {**request, "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed", "FailureReason":
            "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML "
            "instance type."}
    assert rq.job_info(desc, "us-east-1").extra["capacity"] is True
    assert "capacity" not in rq.job_info({**desc, "FailureReason": "AlgorithmError: boom"}, "us-east-1").extra
