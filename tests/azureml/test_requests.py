"""Pure request builders: snapshots of the command job, the 4-node x 8-GPU job, endpoint and deployment; the job
entity passes azure-ai-ml's own validation; the REST body azure-ai-ml would PUT."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudml.errors import ValidationError
from cloudml.providers import _azureml_envs as envs
from cloudml.providers import _azureml_requests as requests
from cloudml.spec import DeploySpec, Resources, SourceCode, TrainingSpec
from tests.azureml.snapshot import assert_snapshot

PROJECT = Path(__file__).parent / "projects" / "linear"
CREATED = "2026-01-01T00:00:00Z"


def spec(**kw):
    base = dict(source=SourceCode("train.py", str(PROJECT)), framework="pytorch", framework_version="2.5",
                resources=Resources(instance_type="Standard_D2s_v3"),
                channels={"train": "azureml://datastores/workspaceblobstore/paths/data/train/",
                          "labels": "https://acct.blob.core.windows.net/data/labels.csv"},
                hyperparameters={"epochs": 3, "lr": 0.01, "name": "it's a test"}, job_name="job-snap-1",
                tags={"team": "ml"}, environment={"MODE": "fast"})
    base.update(kw)
    return TrainingSpec(**base)


def build(s, compute="cpu-cluster", itype="Standard_D2s_v3", spot_tier=False):
    gpus = envs.gpu_count(itype)
    return requests.job_request(
        s, code="/tmp/code", inputs=dict(s.channels), environment=envs.training_environment(s.framework,
                                                                                             s.framework_version, gpus > 0),
        compute=compute, instance_type=itype, gpus=gpus, datastore="workspaceblobstore", experiment_name="cloudml",
        tags={"owner": "me"}, created_at=CREATED, bundle_sha256="ab" * 32, spot_tier=spot_tier)


def test_command_job_snapshot():
    req = build(spec())
    assert_snapshot("job_request_cpu", req)
    assert req["command"].startswith("python cloudml_launcher.py --cloudml-provider azureml --cloudml-entry-point train.py")
    assert "--cloudml-model-dir ${{outputs.model}}" in req["command"]
    assert "--cloudml-channel train=${{inputs.train}}" in req["command"]
    assert "--name 'it'\"'\"'s a test'" in req["command"]  # shell-quoted hyperparameter
    assert req["inputs"]["labels"]["type"] == "uri_file" and req["inputs"]["train"]["type"] == "uri_folder"
    assert req["tags"]["cloudml-job"] == "job-snap-1" and req["tags"]["cloudml-created"] == CREATED


def test_four_nodes_of_eight_gpus_pytorch():
    s = spec(resources=Resources(instance_type="Standard_ND96asr_v4", accelerator="A100:8"), instance_count=4,
             distribution="ddp", channels={}, hyperparameters={"epochs": 1}, framework_version="2.8")
    req = build(s, compute="gpu-cluster", itype="Standard_ND96asr_v4")
    assert_snapshot("job_request_4x8_pytorch", req)
    assert req["distribution"] == {"type": "pytorch", "process_count_per_instance": 8}
    assert req["instance_count"] == 4
    # a curated environment azureml-assets publishes (assets/training/general/environments/acpt-pytorch-2.8-cuda12.6)
    assert req["environment"] == {"id": "azureml://registries/azureml/environments/acpt-pytorch-2.8-cuda12.6/labels/latest"}


def test_a_pytorch_version_without_a_published_curated_environment_builds_one_on_the_gpu_base_image():
    s = spec(resources=Resources(instance_type="Standard_ND96asr_v4", accelerator="A100:8"), framework_version="2.5")
    env = build(s, compute="gpu-cluster", itype="Standard_ND96asr_v4")["environment"]
    assert env["image"] == "mcr.microsoft.com/azureml/openmpi5.0-cuda12.4-ubuntu22.04:latest"
    assert "torch==2.5.*" in str(env["conda"])


def test_four_nodes_tensorflow_multi_worker_serverless_spot():
    s = spec(framework="tensorflow", framework_version="2.16", instance_count=4, channels={}, hyperparameters={},
             distribution="multi_worker_mirrored", resources=Resources(instance_type="Standard_ND96asr_v4", spot=True))
    req = build(s, compute=None, itype="Standard_ND96asr_v4", spot_tier=True)
    assert_snapshot("job_request_4x8_tensorflow_serverless", req)
    assert req["distribution"] == {"type": "tensorflow", "worker_count": 4}
    assert req["instance_type"] == "Standard_ND96asr_v4" and req["job_tier"] == "Spot"
    assert "tensorflow==2.16.*" in str(req["environment"]["conda"])


def test_job_entity_passes_azure_ai_ml_validation_and_rest_body():
    from cloudml.providers._azureml_sdk import to_command

    s = spec(resources=Resources(instance_type="Standard_ND96asr_v4"), instance_count=4, distribution="ddp", channels={
        "train": "azureml://datastores/workspaceblobstore/paths/data/train/"}, checkpoint_uri=
        "azureml://datastores/workspaceblobstore/paths/ckpt/run1/", framework_version="2.8")
    req = build(s, compute="gpu-cluster", itype="Standard_ND96asr_v4")
    req["code"] = str(PROJECT)
    job = to_command(req)
    result = job._validate()
    assert result.passed, result.error_messages
    import json

    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import SdkJSONEncoder

    rest = json.loads(json.dumps(job._to_job()._to_rest_object(), cls=SdkJSONEncoder))
    props = rest["properties"]
    body = {k: props.get(k) for k in ("jobType", "command", "computeId", "inputs", "outputs", "distribution",
                                      "resources", "limits", "tags", "properties", "environmentVariables")}
    assert_snapshot("job_rest_body_4x8", body)
    assert props["jobType"] == "Command" and props["computeId"] == "gpu-cluster"
    assert props["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 8}
    assert props["resources"]["instanceCount"] == 4
    assert props["outputs"]["checkpoints"]["uri"] == "azureml://datastores/workspaceblobstore/paths/ckpt/run1/"


def test_hyperparameters_may_reference_inputs_and_outputs_only_when_they_exist():
    ok = spec(hyperparameters={"data": "${{inputs.train}}", "out": "${{outputs.model}}"})
    cmd = requests.command_line(ok)
    assert "--data ${{inputs.train}} --out ${{outputs.model}}" in cmd
    with pytest.raises(ValidationError) as caught:
        requests.check_references(spec(hyperparameters={"data": "${{inputs.nope}}"}))
    assert caught.value.field == "hyperparameters['data']"
    with pytest.raises(ValidationError):
        requests.check_references(spec(hyperparameters={"c": "${{outputs.checkpoints}}"}))


def test_endpoint_and_deployment_snapshots():
    d = DeploySpec(model_uri="azureml://datastores/workspaceblobstore/paths/cloudml/jobs/j/model/",
                   source=SourceCode("inference.py", str(PROJECT)), framework="pytorch", framework_version="2.5",
                   instance_type="Standard_DS3_v2", min_replicas=2, endpoint_name="ep-1", tags={"team": "ml"},
                   environment={"LOG_LEVEL": "info"})
    ep = requests.endpoint_request(d, "ep-1", {"owner": "me"}, CREATED, public_network_access="disabled")
    dep = requests.deployment_request(d, "ep-1", model_id="/subscriptions/s/models/cloudml-ep-1/versions/1",
                                      code="/tmp/serve", environment=envs.inference_environment("pytorch", "2.5", False),
                                      instance_type="Standard_DS3_v2", tags={"owner": "me"}, created_at=CREATED,
                                      egress_public_network_access="disabled")
    model = requests.model_request(d, "ep-1", d.model_uri, CREATED)
    assert_snapshot("endpoint_deployment_model", {"endpoint": ep, "deployment": dep, "model": model})
    assert dep["instance_count"] == 2 and dep["code_configuration"]["scoring_script"] == "cloudml_score.py"


def test_endpoint_deployment_and_model_pass_through_azure_ai_mls_own_entities_and_rest_objects():
    """The dicts become azure-ai-ml entities exactly as deploy() builds them; the SDK's validation and REST object
    conversion (what it would PUT) accept them and carry every setting."""
    import json

    from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment, ManagedOnlineEndpoint, Model

    d = DeploySpec(model_uri="azureml://datastores/workspaceblobstore/paths/cloudml/jobs/j/model/",
                   source=SourceCode("inference.py", str(PROJECT)), framework="pytorch", framework_version="2.5",
                   instance_type="Standard_DS3_v2", min_replicas=2, endpoint_name="ep-1", tags={"team": "ml"})
    ep = requests.endpoint_request(d, "ep-1", {"owner": "me"}, CREATED, public_network_access="disabled")
    model_id = ("/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/models/"
                "cloudml-ep-1/versions/1")
    dep = requests.deployment_request(d, "ep-1", model_id=model_id, code="/tmp/serve",
                                      environment=envs.inference_environment("pytorch", "2.5", False),
                                      instance_type="Standard_DS3_v2", tags={"owner": "me"}, created_at=CREATED,
                                      egress_public_network_access="disabled")
    rest_ep = ManagedOnlineEndpoint(**ep)._to_rest_online_endpoint("eastus").as_dict()
    assert rest_ep["properties"]["authMode"] == "Key" and rest_ep["properties"]["publicNetworkAccess"] == "disabled"
    assert rest_ep["tags"]["cloudml-endpoint"] == "ep-1"
    # the SDK registers the code folder and an anonymous environment before the PUT: their ids stand in for them
    deployment = ManagedOnlineDeployment(**{
        **dep, "environment": "azureml:cloudml-env:1",
        "code_configuration": CodeConfiguration(code="azureml:/subscriptions/s/codes/c/versions/1",
                                                scoring_script=dep["code_configuration"]["scoring_script"])})
    deployment._validate()
    rest_dep = json.loads(json.dumps(deployment._to_rest_object("eastus").as_dict()))
    props = rest_dep["properties"]
    assert props["codeConfiguration"]["scoringScript"] == "cloudml_score.py" and props["model"] == model_id
    assert props["instanceType"] == "Standard_DS3_v2" and props["egressPublicNetworkAccess"] == "disabled"
    assert rest_dep["sku"]["capacity"] == 2
    rest_model = Model(**requests.model_request(d, "ep-1", d.model_uri, CREATED))._to_rest_object().as_dict()
    assert rest_model["properties"]["modelUri"] == d.model_uri
