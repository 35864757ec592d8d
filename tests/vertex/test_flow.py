"""End to end on the rig: fit -> job state -> model on GCS -> deploy -> predict -> delete."""

from __future__ import annotations

import json

from cloudml.providers.base import EndpointState, JobState
from cloudml.spec import DeploySpec, SourceCode
from tests.vertex.helpers import PLAIN_INFERENCE, PLAIN_TRAIN, project, spec_for, submit, wait


def test_fit_deploy_predict_delete(vertex_provider, vertex_rig, gcs_emulator, tmp_path):
    src = project(tmp_path / "src", {"train.py": PLAIN_TRAIN, "inference.py": PLAIN_INFERENCE})
    spec = spec_for(src, hyperparameters={"scale": 1.5})
    info = submit(vertex_provider, spec, tmp_path)
    assert info.name == spec.job_name
    assert info.state in (JobState.PENDING, JobState.RUNNING)
    done = wait(vertex_provider, spec.job_name)
    assert done.state == JobState.COMPLETED, done.reason
    assert done.model_uri.endswith(f"/jobs/{spec.job_name}/model/")
    model_obj = done.model_uri[len(f"gs://{gcs_emulator.bucket}/"):] + "model.json"
    assert model_obj in gcs_emulator.objects(model_obj)
    assert done.hyperparameters == {"scale": 1.5}
    assert done.framework == "pytorch" and done.entry_point == "train.py"

    ep = vertex_provider.deploy(DeploySpec(model_uri=done.model_uri, source=SourceCode("inference.py", str(src)),
                                           framework_version="2.4", instance_type="n1-standard-2",
                                           endpoint_name="flow-ep"))
    assert ep.state == EndpointState.IN_SERVICE and ep.name == "flow-ep"
    out = json.loads(vertex_provider.invoke("flow-ep", json.dumps({"instances": [[1.0, 2.0]]}).encode()))
    assert out == {"predictions": [[3.0, 6.0]]}
    vertex_provider.delete_endpoint("flow-ep")
    vertex_provider.delete_endpoint("flow-ep")   # idempotent
    assert vertex_rig.leftovers()["endpoints"] == [] and vertex_rig.leftovers()["models"] == []
