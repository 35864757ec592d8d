"""fit() on the SageMaker rig, seen from the outside: requests that reached moto, objects in its S3, logs, states."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cloudml import Estimator, packaging
from cloudml.config import cache_dir
from cloudml.errors import JobStoppedError
from cloudml.providers.base import JobState
from cloudml.spec import Resources
from tests.conformance.suite import PROJECTS, write_regression_data
from tests.rigs.sagemaker import BUCKET, SageMakerRig


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_regression_data(tmp_path / "data")


def estimator(rig: SageMakerRig, project: str = "sm_style", **kwargs: Any) -> Estimator:
    """``sm_style`` (no torch: quick) unless the test needs a model that trains."""
    kwargs.setdefault("instance_type", "ml.m5.xlarge")
    return Estimator("train.py", PROJECTS / project, provider="sagemaker", provider_options=rig.provider_options(),
                     **kwargs)


def objects(rig: SageMakerRig, prefix: str) -> list[str]:
    page = rig.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in page.get("Contents", [])]


def without_created(request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "Tags": [t for t in request["Tags"] if t["Key"] != "cloudml-created"]}


def test_the_request_on_the_wire_is_the_builders_and_uses_what_was_uploaded(sagemaker_rig: SageMakerRig,
                                                                             data: Path) -> None:
    est = estimator(sagemaker_rig, hyperparameters={"epochs": 2}, environment={"MY_FLAG": "on"})
    job = est.fit({"training": str(data)}, logs=False)
    (sent,) = sagemaker_rig.sent("CreateTrainingJob")
    spec = dataclasses.replace(est.prepare({"training": str(data)}), job_name=job.name)
    bundle = packaging.build(spec.source.source_dir, cache_dir() / "bundles", entry_point="train.py")
    channel = sent["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert without_created(sent) == without_created(est.provider.training_request(spec, bundle, {"training": channel}))
    # what the request points at is really in S3: the bundle (by hash) and the channel's file
    # every hyperparameter is JSON text, as the SageMaker SDK sends them and the DLC's toolkit decodes them
    assert json.loads(sent["HyperParameters"]["sagemaker_submit_directory"]) == f"s3://{BUCKET}/cloudml/code/{bundle.name}"
    assert sent["HyperParameters"]["epochs"] == "2" and sent["HyperParameters"]["sagemaker_program"] == '"cloudml_launcher.py"'
    assert objects(sagemaker_rig, "cloudml/code/") == [f"cloudml/code/{bundle.name}"]
    assert objects(sagemaker_rig, channel[len(f"s3://{BUCKET}/"):]) == [channel[len(f"s3://{BUCKET}/"):] + "train.csv"]
    info = job.describe()
    assert info.model_uri == f"s3://{BUCKET}/cloudml/output/{job.name}/output/model.tar.gz"
    assert objects(sagemaker_rig, f"cloudml/output/{job.name}/output/") == [info.model_uri[len(f"s3://{BUCKET}/"):]]


def test_a_second_fit_of_unchanged_code_and_data_uploads_nothing(sagemaker_rig: SageMakerRig, data: Path) -> None:
    estimator(sagemaker_rig, hyperparameters={"epochs": 1}).fit({"training": str(data)}, logs=False)
    first = dict(sagemaker_rig.uploaded)
    assert any("/code/" in key and size > 1000 for key, size in first.items()), first
    assert any("/data/" in key for key in first), first
    sagemaker_rig.uploaded.clear()
    job = estimator(sagemaker_rig, hyperparameters={"epochs": 1}).fit({"training": str(data)}, logs=False)
    assert job.state == JobState.COMPLETED
    assert sagemaker_rig.uploaded == {}, "nothing is uploaded again: code is keyed by hash, data by tree hash"


def test_s3_channels_pass_through_untouched(sagemaker_rig: SageMakerRig, data: Path) -> None:
    sagemaker_rig.client("s3").upload_file(str(data / "train.csv"), BUCKET, "datasets/reg/train.csv")
    est = estimator(sagemaker_rig, hyperparameters={"epochs": 2})
    est.fit({"training": f"s3://{BUCKET}/datasets/reg/"}, logs=False)
    (sent,) = sagemaker_rig.sent("CreateTrainingJob")
    assert sent["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{BUCKET}/datasets/reg/"
    assert not [k for k in sagemaker_rig.uploaded if "/data/" in k]


def test_managed_spot_checkpoints_go_through_s3_and_resume(sagemaker_rig: SageMakerRig, data: Path,
                                                           capsys: Any) -> None:
    checkpoints = f"s3://{BUCKET}/checkpoints/run-1"
    spot = Resources(instance_type="ml.m5.xlarge", spot=True)
    estimator(sagemaker_rig, "regression", resources=spot, instance_type=None, hyperparameters={"epochs": 3},
              checkpoint_uri=checkpoints).fit({"training": str(data)})
    assert objects(sagemaker_rig, "checkpoints/run-1/") == ["checkpoints/run-1/last.pt"]
    capsys.readouterr()
    estimator(sagemaker_rig, "regression", resources=spot, instance_type=None, hyperparameters={"epochs": 5},
              checkpoint_uri=checkpoints).fit({"training": str(data)})
    out = capsys.readouterr().out
    assert "resumed from checkpoint at epoch 3" in out and "epoch 4 loss" in out and "epoch 2 loss" not in out
    for sent in sagemaker_rig.sent("CreateTrainingJob"):
        assert sent["EnableManagedSpotTraining"] is True
        assert sent["CheckpointConfig"] == {"S3Uri": checkpoints, "LocalPath": "/opt/ml/checkpoints"}


def test_billable_seconds_and_cost_come_from_describe(sagemaker_rig: SageMakerRig, data: Path) -> None:
    job = estimator(sagemaker_rig, hyperparameters={"epochs": 1}).fit({"training": str(data)}, logs=False)
    info = job.describe()
    assert info.billable_seconds and info.billable_seconds >= 1
    assert info.extra["billable_seconds"] == info.billable_seconds
    assert job.cost_usd(info) == pytest.approx(0.23 * info.billable_seconds / 3600, abs=1e-4)  # catalog price
    assert job.name in [j.name for j in job.provider.list_jobs()]


def test_max_runtime_stops_the_job(sagemaker_rig: SageMakerRig) -> None:
    with pytest.raises(JobStoppedError) as caught:
        estimator(sagemaker_rig, "slow", max_run_seconds=3).fit()
    assert "MaxRuntimeExceeded" in caught.value.reason


def test_a_spot_interruption_resumes_from_the_s3_checkpoint(sagemaker_rig: SageMakerRig, capsys: Any) -> None:
    sagemaker_rig.interrupt_spot(when_line_contains="epoch 2 loss")
    job = estimator(sagemaker_rig, "resumable", resources=Resources(instance_type="ml.m5.xlarge", spot=True),
                    instance_type=None, hyperparameters={"epochs": 6, "sleep": 0.3}).fit()
    out = capsys.readouterr().out
    resumed = re.search(r"resumed from checkpoint at epoch (\d+)", out)
    assert resumed and int(resumed.group(1)) in (3, 4), out
    assert "epoch 5 loss" in out and job.state == JobState.COMPLETED
    (sent,) = sagemaker_rig.sent("CreateTrainingJob")
    assert sent["CheckpointConfig"]["S3Uri"] == f"s3://{BUCKET}/cloudml/checkpoints/{job.name}", "a per-job default"
