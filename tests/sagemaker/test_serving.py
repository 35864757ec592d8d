"""deploy() on the SageMaker rig: the repacked model.tar.gz, the requests, autoscaling, predictions served by
the model bytes cloudml uploaded, and nothing left behind when a deploy fails."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cloudml import packaging
from cloudml.endpoints import Endpoint
from cloudml.errors import CapacityError, EndpointError, ValidationError
from cloudml.providers.base import EndpointState
from cloudml.providers.sagemaker import SageMakerProvider
from cloudml.spec import DeploySpec, SourceCode
from tests.conformance.suite import PROJECTS, regression_artifact
from tests.rigs.sagemaker import BUCKET, SageMakerRig

NOTHING = {"endpoints": [], "endpoint_configs": [], "models": [], "running_jobs": []}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The regression project's model.tar.gz with known weights (y = 2x + 1)."""
    return regression_artifact(tmp_path_factory.mktemp("artifact"))


def deploy_spec(artifact: Path, source_dir: Path = PROJECTS / "regression", **kwargs: Any) -> DeploySpec:
    kwargs.setdefault("instance_type", "ml.m5.large")
    kwargs.setdefault("endpoint_name", "reg-endpoint")
    return DeploySpec(model_uri=str(artifact), source=SourceCode("inference.py", str(source_dir)), **kwargs)


def members(rig: SageMakerRig, uri: str) -> list[str]:
    body = rig.client("s3").get_object(Bucket=BUCKET, Key=uri[len(f"s3://{BUCKET}/"):])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return sorted(tar.getnames())


def test_deploy_predict_delete_with_the_documented_requests(provider: SageMakerProvider,
                                                            sagemaker_rig: SageMakerRig, artifact: Path) -> None:
    info = provider.deploy(deploy_spec(artifact, environment={"LOG_LEVEL": "info"}, tags={"team": "ml"},
                                       ttl_seconds=3600))
    assert info.state is EndpointState.IN_SERVICE and info.instance_type == "ml.m5.large"
    (model,) = sagemaker_rig.sent("CreateModel")
    container = model["PrimaryContainer"]
    assert container["Image"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.4-cpu-py311"
    # the image's inference toolkit imports SAGEMAKER_PROGRAM: cloudml's shim, which loads the user's handlers
    # (CLOUDML_SERVING_ENTRY) with cloudml's serving defaults around them
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "cloudml_inference.py"
    assert container["Environment"]["CLOUDML_SERVING_ENTRY"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert container["Environment"]["LOG_LEVEL"] == "info"
    assert {"code/inference.py", "code/train.py", "code/cloudml_inference.py", "code/cloudml_runtime/serving.py",
            "code/cloudml_runtime/sagemaker_shim.py", "meta.json", "model.pth"} <= set(
        members(sagemaker_rig, container["ModelDataUrl"])), "model files plus code/ as the inference image expects"
    (config,) = sagemaker_rig.sent("CreateEndpointConfig")
    assert config["ProductionVariants"][0] == {"VariantName": "AllTraffic", "ModelName": "reg-endpoint",
                                               "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
                                               "InitialVariantWeight": 1.0}
    for request in (model, config, sagemaker_rig.sent("CreateEndpoint")[0]):
        keys = {t["Key"]: t["Value"] for t in request["Tags"]}
        assert keys["cloudml-job"] == "reg-endpoint" and keys["team"] == "ml"
        assert int(keys["cloudml-expires"]) == int(keys["cloudml-created"]) + 3600
    assert not sagemaker_rig.sent("RegisterScalableTarget"), "no autoscaling without max_replicas"

    endpoint = Endpoint(provider, "reg-endpoint")
    assert endpoint.predict({"instances": [[0.0], [1.0], [2.0]]}) == {"predictions": [[1.0], [3.0], [5.0]]}
    import numpy as np

    out = endpoint.predict(np.array([[4.0]], dtype=np.float32), content_type="application/x-npy",
                           accept="application/x-npy")
    assert isinstance(out, np.ndarray) and out.tolist() == [[9.0]]
    endpoint.delete()
    assert sagemaker_rig.leftovers() == NOTHING
    endpoint.delete()   # idempotent


def test_autoscaling_registers_a_target_tracking_policy(provider: SageMakerProvider, sagemaker_rig: SageMakerRig,
                                                        artifact: Path) -> None:
    info = provider.deploy(deploy_spec(artifact, min_replicas=2, max_replicas=4))
    assert (info.min_replicas, info.max_replicas) == (2, 4)
    scaling = sagemaker_rig.client("application-autoscaling")
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/reg-endpoint/variant/AllTraffic", 2, 4)
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    described = provider.describe_endpoint("reg-endpoint")
    assert (described.min_replicas, described.max_replicas) == (2, 4)
    provider.delete_endpoint("reg-endpoint")
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert sagemaker_rig.leftovers() == NOTHING


def test_a_deploy_refused_at_create_endpoint_leaves_nothing(provider: SageMakerProvider,
                                                            sagemaker_rig: SageMakerRig, artifact: Path) -> None:
    sagemaker_rig.fail("CreateEndpoint", "ResourceLimitExceeded", message="The account-level service limit "
                       "'ml.m5.large for endpoint usage' is 0 Instances")
    with pytest.raises(CapacityError) as caught:
        provider.deploy(deploy_spec(artifact))
    assert caught.value.instance_type == "ml.m5.large" and "ml.m5.large" in str(caught.value)
    assert len(sagemaker_rig.sent("CreateModel")) == len(sagemaker_rig.sent("CreateEndpointConfig")) == 1
    assert sagemaker_rig.leftovers() == NOTHING


def test_an_endpoint_that_fails_to_start_is_deleted(provider: SageMakerProvider, sagemaker_rig: SageMakerRig,
                                                    artifact: Path, tmp_path: Path) -> None:
    (tmp_path / "inference.py").write_text("def model_fn(model_dir):\n    raise RuntimeError('weights corrupt')\n")
    with pytest.raises(EndpointError, match="weights corrupt"):
        provider.deploy(deploy_spec(artifact, tmp_path))
    assert sagemaker_rig.leftovers() == NOTHING


def test_model_errors_carry_the_status(provider: SageMakerProvider, sagemaker_rig: SageMakerRig,
                                       artifact: Path) -> None:
    provider.deploy(deploy_spec(artifact))
    try:
        with pytest.raises(EndpointError) as caught:   # input the model cannot take: the request's fault
            provider.invoke("reg-endpoint", b'{"instances": "not numbers"}')
        assert caught.value.status == 400
        with pytest.raises(EndpointError) as caught:
            provider.invoke("no-such-endpoint", b"{}")
        assert caught.value.status == 404
    finally:
        provider.delete_endpoint("reg-endpoint")


def test_an_existing_name_is_refused_before_anything_is_created(provider: SageMakerProvider,
                                                                sagemaker_rig: SageMakerRig, artifact: Path) -> None:
    provider.deploy(deploy_spec(artifact))
    with pytest.raises(ValidationError) as caught:
        provider.deploy(deploy_spec(artifact))
    assert caught.value.field == "endpoint_name"
    assert len(sagemaker_rig.sent("CreateModel")) == 1
    provider.delete_endpoint("reg-endpoint")
    assert sagemaker_rig.leftovers() == NOTHING


def test_a_tensorflow_savedmodel_is_repacked_under_version_1(provider: SageMakerProvider, tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"pb")
    (tmp_path / "saved" / "variables").mkdir()
    (tmp_path / "saved" / "variables" / "variables.index").write_bytes(b"ix")
    archive = packaging.tar_dir(tmp_path / "saved", tmp_path / "model.tar.gz")
    spec = DeploySpec(model_uri=str(archive), framework="tensorflow", framework_version="2.16")
    uri, program = provider._prepare_model(spec, "tf-endpoint", tmp_path / "work")
    assert program is None
    provider.download(uri, str(tmp_path / "repacked.tar.gz"))
    with tarfile.open(tmp_path / "repacked.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["1/saved_model.pb", "1/variables/variables.index"]


def test_a_create_endpoint_that_got_through_before_a_500_makes_one_endpoint(
        provider: SageMakerProvider, sagemaker_rig: SageMakerRig, artifact: Path) -> None:
    sagemaker_rig.fail("CreateEndpoint", "InternalFailure", 500, after=True)
    sagemaker_rig.fail("CreateModel", "ThrottlingException", 400)
    info = provider.deploy(deploy_spec(artifact))
    assert info.state is EndpointState.IN_SERVICE
    assert len(sagemaker_rig.sent("CreateEndpoint")) == 2 and [e.name for e in provider.list_endpoints()] == [
        "reg-endpoint"]
    provider.delete_endpoint("reg-endpoint")
