"""SageMaker serving through the PyTorch inference container's published handler chain (sagemaker-inference's
Transformer with sagemaker-pytorch-inference's default handlers), with cloudml's shim as SAGEMAKER_PROGRAM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudml.endpoints import Endpoint
from cloudml.errors import EndpointError
from cloudml.providers.sagemaker import SageMakerProvider
from cloudml.spec import DeploySpec, SourceCode
from tests.conformance.suite import PROJECTS, regression_artifact
from tests.rigs.sagemaker import ROLE_ARN, SageMakerRig


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return regression_artifact(tmp_path_factory.mktemp("artifact"))


def test_an_inference_py_with_only_model_fn_answers_cloudmls_default_json(
        provider: SageMakerProvider, sagemaker_rig: SageMakerRig, artifact: Path) -> None:
    assert "def input_fn" not in (PROJECTS / "regression" / "inference.py").read_text(), "model_fn only"
    provider.deploy(DeploySpec(model_uri=str(artifact), source=SourceCode("inference.py", str(PROJECTS / "regression")),
                               instance_type="ml.m5.large", endpoint_name="shim"))
    sm = sagemaker_rig.client("sagemaker")
    try:
        endpoint = Endpoint(provider, "shim")
        assert endpoint.predict({"instances": [[0.0], [2.0]]}) == {"predictions": [[1.0], [5.0]]}
        container = sagemaker_rig.containers["shim"]
        assert "sagemaker_model_server.py" in " ".join(container.proc.args), "the toolkit chain serves it"
        # the toolkit's error path carries cloudml's statuses: unsupported content type -> 415
        with pytest.raises(EndpointError) as caught:
            provider.invoke("shim", b"x", content_type="text/plain")
        assert caught.value.status == 415 and "unsupported content type" in str(caught.value)

        # control: the same model with the user's inference.py as SAGEMAKER_PROGRAM (no shim) gets the toolkit's
        # own defaults, which cannot read {"instances": ...} -- the rig really runs the platform's code
        url = sm.describe_model(ModelName="shim")["PrimaryContainer"]["ModelDataUrl"]
        image = sm.describe_model(ModelName="shim")["PrimaryContainer"]["Image"]
        sm.create_model(ModelName="bare", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={
            "Image": image, "ModelDataUrl": url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
        sm.create_endpoint_config(EndpointConfigName="bare", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "bare", "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName="bare", EndpointConfigName="bare")
        sagemaker_rig.containers["bare"].thread.join(120)
        with pytest.raises(EndpointError) as caught:
            provider.invoke("bare", json.dumps({"instances": [[0.0]]}).encode())
        assert caught.value.status == 500 and "numpy.object_" in str(caught.value)
        raw = provider.invoke("bare", json.dumps([[0.0], [2.0]]).encode())
        assert json.loads(raw) == [[pytest.approx(1.0, abs=1e-5)], [pytest.approx(5.0, abs=1e-5)]], \
            "the toolkit's default output is a bare list"
    finally:
        for name in ("bare",):
            for call, key in (("delete_endpoint", "EndpointName"), ("delete_endpoint_config", "EndpointConfigName"),
                              ("delete_model", "ModelName")):
                try:
                    getattr(sm, call)(**{key: name})
                except sm.exceptions.ClientError:
                    pass
        provider.delete_endpoint("shim")
