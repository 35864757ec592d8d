"""Snapshot tests of the request bodies the Vertex provider sends, and proof each one parses into the
``aiplatform_v1`` proto (strict JSON parsing: unknown or misspelled fields fail). Pure: no rig, no network.

Regenerate snapshots after an intended change with ``CLOUDML_UPDATE_SNAPSHOTS=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cloudml.providers import _vertex_requests as req
from cloudml.providers._vertex_machines import choose_machine, tf_prediction_image, training_image
from cloudml.spec import Resources, SourceCode, TrainingSpec

SNAPSHOTS = Path(__file__).parent / "snapshots"
CREATED = 1767225600  # 2026-01-01, fixed so labels are stable


def check_snapshot(name: str, body: dict) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    if os.environ.get("CLOUDML_UPDATE_SNAPSHOTS") or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert json.loads(path.read_text()) == json.loads(text), f"{name} changed; see {path}"


def job_body(resources: Resources, framework: str = "pytorch", version: str = "2.4", **kw) -> dict:
    spec = TrainingSpec(source=SourceCode("train.py", "."), framework=framework, framework_version=version,
                        resources=resources, job_name="snap-job-20260101-000000-abcdef",
                        hyperparameters={"epochs": 3, "lr": 0.001, "arch": "mlp"}, **kw)
    machine = choose_machine(resources.instance_type, resources.accelerator)
    return req.custom_job(
        spec, machine=machine, image_uri=training_image(framework, version, machine.kind, "us-central1"),
        code_uri="gs://bucket/cloudml/code/0123abcd.tar.gz", channels={"train": "gs://bucket/data/train/"},
        base_output_uri=f"gs://bucket/cloudml/jobs/{spec.job_name}/",
        labels=req.labels(CREATED, {"team": "ml"}, spec.tags, cloudml_job=spec.job_name),
    )


def strict(message_type, body: dict) -> None:
    """Parse ``body`` into the ``aiplatform_v1`` proto as the service would: unknown fields are errors."""
    from google.protobuf import json_format

    json_format.ParseDict(body, message_type()._pb, ignore_unknown_fields=False)


def parses(body: dict) -> None:
    from google.cloud import aiplatform_v1

    strict(aiplatform_v1.CustomJob, body)


def test_the_strict_parse_refuses_a_misspelled_field():
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    body = job_body(Resources(accelerator="T4:1"))
    body["jobSpec"]["scheduling"]["maxWaitDuraton"] = "60s"
    with pytest.raises(json_format.ParseError, match="maxWaitDuraton"):
        strict(aiplatform_v1.CustomJob, body)


CASES = {
    "job_a100": dict(resources=Resources(accelerator="A100:1")),
    "job_h100": dict(resources=Resources(accelerator="H100:8")),
    "job_l4": dict(resources=Resources(instance_type="g2-standard-8")),
    "job_t4": dict(resources=Resources(instance_type="n1-standard-8", accelerator="T4:1")),
    "job_tpu_v5e": dict(resources=Resources(accelerator="tpu-v5e:4"), version="2.2"),
    "job_tpu_v3": dict(resources=Resources(instance_type="cloud-tpu", accelerator="TPU-V3:8"), framework="tensorflow",
                       version="2.15"),
    "job_spot": dict(resources=Resources(accelerator="T4:1", spot=True), max_run_seconds=3600,
                     checkpoint_uri="gs://bucket/ckpt/run1/"),
    "job_cpu_tf": dict(resources=Resources(instance_type="n1-standard-4"), framework="tensorflow", version="2.16"),
    "job_4x8_a100_ddp": dict(resources=Resources(accelerator="A100:8"), instance_count=4, processes_per_node=8),
    "job_4x8_a100_tf": dict(resources=Resources(instance_type="a2-highgpu-8g"), framework="tensorflow",
                            version="2.17", instance_count=4, distribution="multi_worker_mirrored"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_custom_job_snapshot(name):
    body = job_body(**CASES[name])
    check_snapshot(name, body)
    parses(body)


def test_a100_chooses_a2_highgpu_1g():
    pool = job_body(Resources(accelerator="A100:1"))["jobSpec"]["workerPoolSpecs"][0]
    assert pool["machineSpec"] == {"machineType": "a2-highgpu-1g", "acceleratorType": "NVIDIA_TESLA_A100",
                                   "acceleratorCount": 1}
    assert pool["containerSpec"]["imageUri"] == "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310:latest"


def test_tpu_v5e_4_chooses_ct5lp_hightpu_4t_2x2():
    body = job_body(Resources(accelerator="tpu-v5e:4"), version="2.2")
    pool = body["jobSpec"]["workerPoolSpecs"][0]
    assert pool["machineSpec"] == {"machineType": "ct5lp-hightpu-4t", "tpuTopology": "2x2"}
    assert pool["containerSpec"]["imageUri"].endswith("/pytorch-tpu.2-2.cp310:latest")


def test_spot_and_timeouts():
    sched = job_body(**CASES["job_spot"])["jobSpec"]["scheduling"]
    assert sched == {"timeout": "3600s", "strategy": "SPOT"}   # maxWaitDuration is FLEX_START's only
    on_demand = job_body(Resources(accelerator="T4:1"))["jobSpec"]["scheduling"]
    assert "strategy" not in on_demand


def test_multi_node_is_chief_plus_workers():
    pools = job_body(**CASES["job_4x8_a100_ddp"])["jobSpec"]["workerPoolSpecs"]
    assert [p["replicaCount"] for p in pools] == [1, 3]
    assert pools[0]["machineSpec"] == pools[1]["machineSpec"] == {
        "machineType": "a2-highgpu-8g", "acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 8}
    env = {e["name"]: e["value"] for e in pools[1]["containerSpec"]["env"]}
    assert env["CLOUDML_DISTRIBUTION"] == "ddp" and env["CLOUDML_PROCESSES_PER_NODE"] == "8"


def test_hyperparameters_are_container_args_and_launcher_settings_env():
    container = job_body(Resources(instance_type="n1-standard-4"))["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
    assert container["args"] == ["--epochs", "3", "--lr", "0.001", "--arch", "mlp"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CLOUDML_PROVIDER"] == "vertex" and env["CLOUDML_ENTRY_POINT"] == "train.py"
    assert env["CLOUDML_CHANNEL_TRAIN"] == "gs://bucket/data/train/"
    assert container["command"][:2] == ["sh", "-c"]
    assert '"$mount"/bucket/cloudml/code/0123abcd.tar.gz' in container["command"][2]


def test_labels_cmek_network_service_account_pass_through():
    spec = TrainingSpec(source=SourceCode("train.py", "."), framework_version="2.4", job_name="Job-X",
                        resources=Resources(instance_type="n1-standard-4"), tags={"Cost Center": "R&D 42"})
    body = req.custom_job(spec, machine=choose_machine("n1-standard-4", None), image_uri="img", code_uri="gs://b/c",
                          channels={}, base_output_uri="gs://b/o/", service_account="sa@p.iam.gserviceaccount.com",
                          network="projects/123/global/networks/vpc", kms_key_name="projects/p/locations/l/keyRings/r/cryptoKeys/k",
                          labels=req.labels(CREATED, {}, spec.tags, cloudml_job=spec.job_name))
    parses(body)
    assert body["labels"] == {"cloudml-created": str(CREATED), "cloudml-job": "job-x", "cost_center": "r_d_42"}
    assert body["encryptionSpec"] == {"kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}
    assert body["jobSpec"]["network"] == "projects/123/global/networks/vpc"
    assert body["jobSpec"]["serviceAccount"] == "sa@p.iam.gserviceaccount.com"


def serving_bodies(framework: str, version: str, instance_type: str, accelerator: str | None, custom: bool) -> dict:
    machine = choose_machine(instance_type, accelerator, field="instance_type")
    device = "gpu" if machine.kind == "gpu" else "cpu"
    labels = req.labels(CREATED, {}, {}, cloudml_endpoint="snap-ep")
    if custom:
        model = req.model("snap-ep", artifact_uri="gs://bucket/cloudml/jobs/j/model/", labels=labels,
                          image_uri=training_image(framework, version, device, "europe-west4"),
                          code_uri="gs://bucket/cloudml/code/feed.tar.gz", kms_key_name="projects/p/keys/k")
    else:
        model = req.model("snap-ep", artifact_uri="gs://bucket/cloudml/jobs/j/model/", labels=labels,
                          image_uri=tf_prediction_image(version, device, "europe-west4"))
    deploy = req.deploy_model("projects/p/locations/l/endpoints/snap-ep", "projects/p/locations/l/models/snap-ep",
                              "snap-ep", machine=machine, min_replicas=1, max_replicas=3,
                              service_account="sa@p.iam.gserviceaccount.com")
    return {"model": model, "endpoint": req.endpoint("snap-ep", labels=labels), "deploy": deploy}


SERVING = {
    "serve_pytorch_l4": ("pytorch", "2.4", "g2-standard-8", None, True),
    "serve_pytorch_t4": ("pytorch", "2.3", "n1-standard-4", "T4:1", True),
    "serve_tf_savedmodel_cpu": ("tensorflow", "2.15", "n1-standard-4", None, False),
    "serve_tf_a100": ("tensorflow", "2.14", "a2-highgpu-1g", None, False),
}


@pytest.mark.parametrize("name", sorted(SERVING))
def test_model_and_deploy_snapshots(name):
    from google.cloud import aiplatform_v1

    bodies = serving_bodies(*SERVING[name])
    check_snapshot(name, bodies)
    strict(aiplatform_v1.Model, bodies["model"])
    strict(aiplatform_v1.Endpoint, bodies["endpoint"])
    strict(aiplatform_v1.DeployModelRequest, bodies["deploy"])


def test_tf_savedmodel_uses_prebuilt_prediction_image():
    model = serving_bodies(*SERVING["serve_tf_savedmodel_cpu"])["model"]
    assert model["containerSpec"] == {"imageUri": "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"}
    assert model["supportedDeploymentResourcesTypes"] == ["DEDICATED_RESOURCES"]


def test_custom_serving_container_runs_cloudml_adapter():
    model = serving_bodies(*SERVING["serve_pytorch_l4"])["model"]
    spec = model["containerSpec"]
    assert spec["imageUri"] == "europe-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310:latest"
    assert spec["command"][:2] == ["python", "-c"] and "cloudml_runtime.serving" in spec["command"][2]
    assert (spec["predictRoute"], spec["healthRoute"], spec["ports"]) == ("/predict", "/ping", [{"containerPort": 8080}])


def test_deploy_model_dedicated_resources():
    deploy = serving_bodies(*SERVING["serve_pytorch_t4"])["deploy"]
    assert deploy["deployedModel"]["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-standard-4", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1},
        "minReplicaCount": 1, "maxReplicaCount": 3}
    assert deploy["trafficSplit"] == {"0": 100}


def test_predict_request_shapes():
    ep = "projects/p/locations/l/endpoints/e"
    assert req.predict_request(ep, {"instances": [[1, 2]], "parameters": {"k": 1}}) == {
        "endpoint": ep, "instances": [[1, 2]], "parameters": {"k": 1}}
    assert req.predict_request(ep, [[1, 2]]) == {"endpoint": ep, "instances": [[1, 2]]}
    assert req.predict_request(ep, {"x": 1}) == {"endpoint": ep, "instances": [{"x": 1}]}
