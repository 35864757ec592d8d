"""The SageMaker rig runs the platform's own published training toolkit, so jobs made the official SDK's way train
on it and cloudml's hyperparameters survive the toolkit's decoding; a timeout or a stop leaves no process (that a
bundle's requirements never reach the test runner's environment is in tests/conformance/isolation.py, every rig)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from cloudml import Estimator
from cloudml.errors import JobStoppedError
from cloudml.runtime.launcher import hp_arg
from tests.conformance.suite import PROJECTS, write_regression_data
from tests.rigs.containers import descendants, private_mounts
from tests.rigs.sagemaker import BUCKET, ROLE_ARN, SageMakerRig

#: values the toolkit would mangle if sent raw: "true" -> True, "123" -> 123, a dict -> k=v, None -> ''
TRICKY = {"flag": "true", "count": "123", "nothing": None, "opts": {"a": 1, "b": [2, 3]}, "layers": [64, 32],
          "nested": json.dumps({"k": "v"}), "lr": 0.5, "on": True, "name": "adam", "x": 7}


def wait_job(rig: SageMakerRig, name: str, timeout: float = 240) -> dict[str, Any]:
    sm = rig.client("sagemaker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return desc
        time.sleep(0.2)
    raise AssertionError(f"{name} did not finish")


def sourcedir_tar(folder: Path) -> bytes:
    """What the SageMaker SDK uploads as ``sourcedir.tar.gz``: the source dir's files at the archive root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(folder).as_posix())
    return buf.getvalue()


def log_text(rig: SageMakerRig, name: str) -> str:
    logs = rig.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name)
    return "\n".join(e["message"] for s in streams["logStreams"] for e in logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=s["logStreamName"])["events"])


def test_a_job_made_as_the_official_sdk_makes_it_trains_with_plain_boto3(sagemaker_rig: SageMakerRig,
                                                                         tmp_path: Path) -> None:
    from sagemaker.core import image_uris

    s3 = sagemaker_rig.client("s3")
    job = "pytorch-training-2026-12-01-21-00-00-000"
    s3.put_object(Bucket=BUCKET, Key=f"{job}/source/sourcedir.tar.gz", Body=sourcedir_tar(PROJECTS / "official_sdk"))
    data = write_regression_data(tmp_path / "data")
    s3.upload_file(str(data / "train.csv"), BUCKET, "datasets/train.csv")
    image = image_uris.retrieve("pytorch", "us-east-1", "2.5", py_version="py311", instance_type="ml.m5.xlarge",
                                image_scope="training")
    user = {"epochs": 3, "optimizer": "adam", "use-bias": True}
    hyperparameters = {k: json.dumps(v) for k, v in user.items()}     # the SDK JSON-encodes every value
    hyperparameters.update({k: json.dumps(v) for k, v in {
        "sagemaker_submit_directory": f"s3://{BUCKET}/{job}/source/sourcedir.tar.gz", "sagemaker_program": "train.py",
        "sagemaker_container_log_level": 20, "sagemaker_job_name": job, "sagemaker_region": "us-east-1"}.items()})
    sm = sagemaker_rig.client("sagemaker")
    sm.create_training_job(
        TrainingJobName=job, RoleArn=ROLE_ARN, HyperParameters=hyperparameters,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File", "EnableSageMakerMetricsTimeSeries": True},
        InputDataConfig=[{"ChannelName": "training", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/datasets/", "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    desc = wait_job(sagemaker_rig, job)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    body = s3.get_object(Bucket=BUCKET, Key=f"{job}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        model = json.load(tar.extractfile("model.json"))  # type: ignore[arg-type]
    assert model["a"] == pytest.approx(2.0, abs=0.01) and model["b"] == pytest.approx(1.0, abs=0.01)
    line = next(x for x in log_text(sagemaker_rig, job).splitlines() if x.startswith("official-sdk report "))
    report = json.loads(line.split(" ", 2)[2])
    # the toolkit's own rendering: decoded JSON, sorted keys, True -> "True"; its env: SM_HPS, TRAINING_JOB_NAME
    assert report["argv"] == ["--epochs", "3", "--optimizer", "adam", "--use-bias", "True"]
    assert report["sm_hps"] == user and report["job_name"] == job and report["rows"] == 200
    if private_mounts("/opt/ml"):   # the real path, inside the host's own namespace only: nothing written here
        assert report["cwd"] == "/opt/ml/code" and os.listdir("/opt/ml") == []
    else:
        assert report["cwd"].endswith("/opt-ml/code")


def _echo(text: str) -> dict[str, Any]:
    line = next(x for x in text.splitlines() if "hp-echo " in x)
    return json.loads(line.split("hp-echo ", 1)[1])


def _check_script_saw(seen: dict[str, Any]) -> None:
    assert seen["sm_hps"] == TRICKY, "SM_HPS holds the user's values with their types"
    argv = seen["argv"]
    pairs = dict(zip((a.lstrip("-") for a in argv[0::2]), argv[1::2], strict=True))
    assert pairs == {k: hp_arg(v) for k, v in TRICKY.items()}, "strings raw, everything else as JSON"


@pytest.mark.parametrize("provider", ["local", "sagemaker"])
def test_hyperparameters_reach_the_script_with_their_original_types(provider: str, sagemaker_rig: SageMakerRig,
                                                                    capsys: Any) -> None:
    options = sagemaker_rig.provider_options() if provider == "sagemaker" else {}
    est = Estimator("train.py", PROJECTS / "hp_echo", provider=provider, provider_options=options,
                    instance_type="ml.m5.xlarge" if provider == "sagemaker" else None, hyperparameters=TRICKY)
    job = est.fit()
    _check_script_saw(_echo(capsys.readouterr().out))
    assert job.describe().hyperparameters == TRICKY, "describe/attach decode them back"
    if provider == "sagemaker":
        (sent,) = sagemaker_rig.sent("CreateTrainingJob")
        assert sent["HyperParameters"]["flag"] == '"true"' and sent["HyperParameters"]["nothing"] == "null"


def test_old_jobs_with_raw_string_hyperparameters_still_decode() -> None:
    from cloudml.providers._sagemaker_requests import decode_hyperparameters, hp_text

    assert decode_hyperparameters({"name": "adam", "epochs": "3", "sagemaker_program": "x.py"}) == {
        "name": "adam", "epochs": 3}
    assert hp_text({"sagemaker_submit_directory": "s3://b/k.tar.gz"}, "sagemaker_submit_directory") == "s3://b/k.tar.gz"
    assert hp_text({"sagemaker_submit_directory": '"s3://b/k.tar.gz"'}, "sagemaker_submit_directory") == "s3://b/k.tar.gz"


def forking_project(tmp_path: Path, sleep: int, says: str) -> Path:
    """A train.py that forks a grandchild in its own session (``time.sleep(sleep)``), prints ``says`` and its pid,
    then sleeps: what a rig's timeout or stop must take down whole."""
    project = tmp_path / "forks"
    project.mkdir()
    (project / "train.py").write_text(
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep({sleep})'], start_new_session=True)\n"
        f"print({says!r}, p.pid, flush=True)\n"
        "time.sleep(600)\n")
    return project


def test_a_rig_timeout_leaves_no_process(sagemaker_rig: SageMakerRig, tmp_path: Path) -> None:
    """The script forks a grandchild in its own session (as torchrun's workers are): all of it goes."""
    project = forking_project(tmp_path, sleep=600, says="grandchild")
    est = Estimator("train.py", project, provider="sagemaker", provider_options=sagemaker_rig.provider_options(),
                    instance_type="ml.m5.xlarge", max_run_seconds=30)   # the toolkit needs ~10 s to start it
    with pytest.raises(JobStoppedError) as caught:
        est.fit()
    assert "MaxRuntimeExceeded" in (caught.value.reason or "")
    runner = next(iter(sagemaker_rig.jobs.values()))
    assert runner.procs and all(p.poll() is not None for p in runner.procs)
    assert not any(descendants(p.pid) for p in runner.procs)
    lines = [x for x in log_text(sagemaker_rig, est.latest_job.name).splitlines() if x.startswith("grandchild ")]
    assert lines, "the script ran"
    pid = int(lines[0].split()[1])   # a pid inside the job's PID namespace when the rig has one: check by cmdline
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) ==
                "import time; time.sleep(600)"], f"grandchild {pid} survived"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().split(b"\0")[2].decode()
    except (OSError, IndexError):
        return ""


def test_stopping_a_job_leaves_no_process(sagemaker_rig: SageMakerRig, tmp_path: Path) -> None:
    project = forking_project(tmp_path, sleep=601, says="forked")
    job = Estimator("train.py", project, provider="sagemaker", provider_options=sagemaker_rig.provider_options(),
                    instance_type="ml.m5.xlarge").fit(wait=False)
    deadline = time.monotonic() + 120
    while not any("forked" in line for line in job.new_log_lines()):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    job.stop()
    with pytest.raises(JobStoppedError):
        job.wait(timeout=120, logs=False)
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) ==
                "import time; time.sleep(601)"], "the script's detached child survived the stop"
