"""Command jobs on the rig: what reaches the fake Azure ML over HTTP, uploads, idempotency, faults, scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudml import packaging
from cloudml.errors import CapacityError
from cloudml.providers.base import JobState
from cloudml.spec import Resources, SourceCode, TrainingSpec, make_job_name
from tests.azureml.helpers import wait
from tests.azureml.snapshot import assert_snapshot
from tests.rigs.azureml import WORKSPACE_CONTAINER

PROJECTS = Path(__file__).parent / "projects"
REGRESSION = Path(__file__).parents[1] / "projects" / "regression"


def spec(project="linear", **kw):
    base = dict(source=SourceCode("train.py", str(PROJECTS / project)), framework="pytorch", framework_version="2.5",
                resources=Resources(instance_type="Standard_D2s_v3"), job_name=make_job_name("jobs"))
    base.update(kw)
    return TrainingSpec(**base)


def put_bodies(fake, kind="/jobs/"):
    return [body for method, path, _, body in fake.requests if method == "PUT" and kind in path]


def normalised_job_body(body, name):
    props = json.loads(json.dumps(body["properties"]).replace(name, "JOB"))
    props["codeId"] = props["codeId"].split("/codes/")[0] + "/codes/CODE/versions/1"
    props["tags"]["cloudml-created"] = "TIME"
    props["properties"]["cloudml.bundle_sha256"] = "SHA"
    for key in [k for k in props["properties"] if "git" in k]:  # azure-ai-ml adds the caller's git facts
        del props["properties"][key]
    return props


def test_job_put_body_upload_once_and_idempotent_submit(provider, fake_aml, tmp_path):
    bundle = packaging.build(PROJECTS / "linear", tmp_path / "b", entry_point="train.py")
    first = spec(hyperparameters={"epochs": 5}, channels={"train": "azureml://datastores/workspaceblobstore/paths/d/"},
                 tags={"team": "ml"})
    provider.submit(first, bundle)
    provider.submit(first, bundle)  # a retried submit: the same job, no second PUT
    assert len(put_bodies(fake_aml)) == 1
    body = put_bodies(fake_aml)[0]
    assert_snapshot("job_put_body", normalised_job_body(body, first.job_name))
    props = body["properties"]
    assert props["computeId"].endswith("/computes/cpu-cluster")
    assert props["tags"]["cloudml-job"] == first.job_name and props["tags"]["cloudml-created"]
    second = spec(hyperparameters={"epochs": 5})
    provider.submit(second, bundle)
    uploads = fake_aml.calls("POST", "startPendingUpload")
    assert len(uploads) == 1, "an unchanged bundle is uploaded once"
    assert fake_aml.job(second.job_name)["properties"]["codeId"] == props["codeId"]


def test_serverless_spot_asks_for_the_spot_tier(provider_options, fake_aml, tmp_path):
    from cloudml.providers.azureml import AzureMLProvider

    provider = AzureMLProvider(**{**provider_options, "compute": None})
    s = spec(resources=Resources(instance_type="Standard_D2s_v3", spot=True), max_run_seconds=600)
    provider.submit(s, packaging.build(PROJECTS / "linear", tmp_path, entry_point="train.py"))
    props = put_bodies(fake_aml)[0]["properties"]
    assert props["queueSettings"]["jobTier"] == "Spot"
    assert props["resources"]["instanceType"] == "Standard_D2s_v3" and not props.get("computeId")
    assert props["limits"]["timeout"] == "PT10M"
    info, _ = wait(provider, s.job_name)
    assert info.state == JobState.COMPLETED and info.spot


def test_transient_faults_are_retried_and_quota_becomes_capacity_error(provider, fake_aml, tmp_path):
    bundle = packaging.build(PROJECTS / "linear", tmp_path, entry_point="train.py")
    s = spec()
    fake_aml.fail_next[("PUT", r"/jobs/")] = [503, 429]
    provider.submit(s, bundle)
    assert fake_aml.live("jobs") == [s.job_name], "retried creates make one job"
    assert len(put_bodies(fake_aml)) == 3, "503 and 429 were retried by azure-core's retry policy"
    refused = spec()
    fake_aml.fail_next[("PUT", r"/jobs/")] = [409]
    with pytest.raises(CapacityError) as caught:
        provider.submit(refused, bundle)
    assert caught.value.instance_type == "Standard_D2s_v3" and "quota" in caught.value.reason.lower()
    assert refused.job_name not in fake_aml.live("jobs")


def test_a_script_written_for_azure_ml_runs_unmodified(provider, fake_aml, azurite, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "part-0.csv").write_text("1.5,a\n2.5,b\n")
    s = spec("azure_style", channels={"train": str(data)},
             hyperparameters={"data": "${{inputs.train}}", "model_output": "${{outputs.model}}", "scale": 2})
    provider.submit(s, packaging.build(PROJECTS / "azure_style", tmp_path / "b", entry_point="train.py"))
    info, lines = wait(provider, s.job_name)
    assert info.state == JobState.COMPLETED, lines
    assert any("azure-style summary rows=2 total=8.000" in line for line in lines)
    provider.download(info.model_uri + "summary.json", str(tmp_path / "summary.json"))
    assert json.loads((tmp_path / "summary.json").read_text()) == {"rows": 2, "total": 8.0}
    uploaded = azurite.list_blobs(WORKSPACE_CONTAINER, "cloudml/inputs/")
    assert any(b.endswith("/part-0.csv") for b in uploaded), "the local channel was uploaded to the datastore"


def test_checkpoints_live_in_an_output_folder_and_a_rerun_resumes(provider, fake_aml, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("".join(f"{x / 10},{2 * x / 10 + 1}\n" for x in range(10)))
    ckpt = "azureml://datastores/workspaceblobstore/paths/checkpoints/run-1/"
    bundle = packaging.build(REGRESSION, tmp_path / "b", entry_point="train.py")
    first = spec(source=SourceCode("train.py", str(REGRESSION)), channels={"training": str(data)},
                 hyperparameters={"epochs": 3}, checkpoint_uri=ckpt)
    provider.submit(first, bundle)
    info, lines = wait(provider, first.job_name)
    assert info.state == JobState.COMPLETED, lines
    second = spec(source=SourceCode("train.py", str(REGRESSION)), channels={"training": str(data)},
                  hyperparameters={"epochs": 5}, checkpoint_uri=ckpt)
    provider.submit(second, bundle)
    info, lines = wait(provider, second.job_name)
    assert any("resumed from checkpoint at epoch 3" in line for line in lines), lines
    assert sum("loss" in line for line in lines) == 2


def test_failed_job_reason_exit_code_and_attach_facts(provider, fake_aml, tmp_path):
    s = spec(hyperparameters={"fail": "yes", "epochs": 1})
    provider.submit(s, packaging.build(PROJECTS / "linear", tmp_path, entry_point="train.py"))
    info, lines = wait(provider, s.job_name)
    assert info.state == JobState.FAILED and info.exit_code == 1
    assert "exited with status code 1" in info.reason
    assert any("asked to fail: bad learning rate schedule" in line for line in lines)
    assert info.entry_point == "train.py" and info.instance_type == "Standard_D2s_v3"
    assert info.hyperparameters == {"fail": "yes", "epochs": 1} and info.code_uri
    listed = {j.name for j in provider.list_jobs()}
    assert s.job_name in listed
