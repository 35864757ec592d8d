"""Ctrl-C during ``wait()`` and a crash of the submitting process, on the SageMaker rig: the job keeps running,
the attach command is printed, and re-running ``fit(job_name=same)`` or ``Estimator.attach`` finds the one job,
never a second one. (The local provider's versions are in ``tests/local/test_local_provider.py``.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudml import Estimator
from cloudml.errors import JobStoppedError
from cloudml.providers.base import JobState
from tests.conformance.suite import PROJECTS, write_regression_data
from tests.rigs.sagemaker import SageMakerRig

ROOT = Path(__file__).resolve().parents[2]


def training_jobs(rig: SageMakerRig) -> list[str]:
    return [j["TrainingJobName"] for j in rig.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]


def test_ctrl_c_during_wait_leaves_the_job_running_and_prints_the_attach_command(sagemaker_rig, capsys) -> None:
    options = sagemaker_rig.provider_options()
    est = Estimator("train.py", PROJECTS / "slow", provider="sagemaker", instance_type="ml.m5.xlarge",
                    provider_options=options)
    job = est.fit(wait=False)

    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job.wait(log_sink=interrupt)
    err = capsys.readouterr().err
    assert f"job {job.name} keeps running on sagemaker" in err
    assert f"Estimator.attach('{job.name}', provider='sagemaker')" in err
    assert f"cloudml jobs wait {job.name} --provider sagemaker" in err
    assert job.state in (JobState.PENDING, JobState.RUNNING)
    attached = Estimator.attach(job.name, provider="sagemaker", provider_options=options)
    assert attached.latest_job.name == job.name and training_jobs(sagemaker_rig) == [job.name]
    attached.latest_job.stop()
    with pytest.raises(JobStoppedError):
        attached.latest_job.wait(logs=False)


CRASHING_SUBMITTER = """
import json, sys
from cloudml import Estimator
project, options, data, name = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
est = Estimator("train.py", project, provider="sagemaker", instance_type="ml.m5.xlarge", provider_options=options,
                hyperparameters={"epochs": 2})
est.fit({"training": data}, job_name=name)
"""


def test_a_crash_after_submit_then_fit_with_the_same_name_finds_the_one_job(sagemaker_rig, tmp_path: Path) -> None:
    options = sagemaker_rig.provider_options()
    data = str(write_regression_data(tmp_path / "d"))
    name = "crash-test-job-1"
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_SUBMITTER, str(PROJECTS / "sm_style"),
                             json.dumps(options), data, name], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while name not in training_jobs(sagemaker_rig):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the submitter never submitted"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)     # the submitting process dies right after its create call
        proc.wait()
    est = Estimator("train.py", PROJECTS / "sm_style", provider="sagemaker", instance_type="ml.m5.xlarge",
                    provider_options=options, hyperparameters={"epochs": 2})
    job = est.fit({"training": data}, job_name=name, logs=False)
    assert job.name == name and job.state == JobState.COMPLETED
    attached = Estimator.attach(name, provider="sagemaker", provider_options=options)
    assert attached.latest_job.describe().state == JobState.COMPLETED
    assert training_jobs(sagemaker_rig) == [name], "never a second job"
    assert len(sagemaker_rig.jobs) == 1
