"""Distribution and checkpoints on the local provider: a 2-node x 2-process PyTorch DDP job whose ranks end with
identical weights although each trains on different data, a job stopped mid-way that resumes from its last
checkpoint when fitted again with the same ``checkpoint_uri``, and distributions that cannot run refused
before anything starts. (TensorFlow multi-worker: ``tests/tf``.)"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from cloudml import Estimator, PyTorch, TensorFlow
from cloudml.errors import JobStoppedError, UnsupportedFeatureError, ValidationError
from cloudml.providers.base import JobState
from tests.conformance.suite import PROJECTS

RANK_LINE = re.compile(r"^\[(algo-\d)\] (?:\[default\d+\]:)?rank (\d)/(\d) local_rank (\d) host (algo-\d) slope_target \d+ "
                       r"weights (\[.*\]) checksum ([0-9a-f]+)$", re.M)


@pytest.mark.slow
def test_two_nodes_by_two_processes_ddp_synchronises_gradients(tmp_path: Path, capsys) -> None:
    est = PyTorch("train.py", PROJECTS / "ddp_sync", instance_count=2, processes_per_node=2, distribution="ddp",
                  provider="local", provider_options={"root": str(tmp_path / "local")})
    job = est.fit()
    out = capsys.readouterr().out
    ranks = {int(m[1]): m for m in RANK_LINE.findall(out)}
    assert sorted(ranks) == [0, 1, 2, 3], out
    assert all(world == "4" for _, _, world, *_ in ranks.values())
    # two simulated nodes, two processes each, every line from the node it claims
    assert sorted((m[0], m[3]) for m in ranks.values()) == [("algo-1", "0"), ("algo-1", "1"),
                                                            ("algo-2", "0"), ("algo-2", "1")]
    assert all(m[0] == m[4] for m in ranks.values())
    assert len({m[6] for m in ranks.values()}) == 1, "every rank ends with the same weights"
    slope, intercept = json.loads(ranks[0][5])
    # alone, rank r would reach slope 2 + r: only averaged gradients give the pooled solution 3.5
    assert slope == pytest.approx(3.5, abs=0.02) and intercept == pytest.approx(1.0, abs=0.02)
    assert out.count("--nnodes=2") == 2 and "--nproc_per_node=2" in out
    assert job.describe().extra["distribution"] == "ddp"


@pytest.mark.slow
def test_a_stopped_job_resumes_from_its_last_checkpoint(tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "checkpoints"

    def estimator() -> Estimator:
        return PyTorch("train.py", PROJECTS / "resumable", hyperparameters={"epochs": 24, "sleep": 0.2},
                       checkpoint_uri=str(ckpt), provider="local", provider_options={"root": str(tmp_path / "local")})

    first = estimator().fit(wait=False)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any(line.startswith("epoch 3 ") for line in lines):
        assert time.monotonic() < deadline, f"the job never reached epoch 3: {lines}"
        lines += first.new_log_lines()
        time.sleep(0.05)
    first.stop()
    with pytest.raises(JobStoppedError):
        first.wait(timeout=60, log_sink=lines.append)
    assert first.state == JobState.STOPPED
    assert "starting at epoch 0" in lines
    (last,) = ckpt.glob("ckpt-*.pt")
    done = int(last.stem.split("-")[1])
    assert 4 <= done < 24, f"stopped mid-way, after epoch 3 was logged: {done} epochs checkpointed"
    first_losses = {int(m[0]): float(m[1]) for m in (re.findall(r"^epoch (\d+) loss ([0-9.]+)$", "\n".join(lines), re.M))}

    capsys.readouterr()
    second = estimator().fit()
    assert second.name != first.name
    text = capsys.readouterr().out
    assert f"resumed from checkpoint at epoch {done}" in text
    epochs = [int(e) for e in re.findall(r"^epoch (\d+) loss", text, re.M)]
    assert epochs == list(range(done, 24)), "it continues after the last completed epoch and finishes"
    resumed_loss = float(re.search(rf"^epoch {done} loss ([0-9.]+)$", text, re.M).group(1))
    assert resumed_loss < first_losses[0], "the weights came back from the checkpoint, not from scratch"
    assert second.state == JobState.COMPLETED


@pytest.mark.parametrize(("framework", "kwargs", "field", "says"), [
    ("pytorch", {"distribution": "multi_worker_mirrored"}, "distribution", "supported for pytorch: none, ddp"),
    ("pytorch", {"distribution": "parameter_server", "instance_count": 2}, "distribution", "tensorflow strategy"),
    ("tensorflow", {"distribution": "ddp"}, "distribution",
     "supported for tensorflow: none, multi_worker_mirrored, parameter_server"),
    ("tensorflow", {"distribution": "horovod"}, "distribution", "supported for tensorflow"),
    ("tensorflow", {"processes_per_node": 2}, "processes_per_node", "raise instance_count"),
    ("pytorch", {"processes_per_node": 2, "distribution": "none"}, "processes_per_node", "distribution='ddp'"),
])
def test_a_distribution_the_framework_cannot_run_is_refused_naming_what_it_supports(
        framework: str, kwargs: dict, field: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Estimator("train.py", PROJECTS / "allreduce", framework=framework, provider="local", **kwargs)
    assert caught.value.field == field
    assert says in str(caught.value)


def test_parameter_server_is_refused_on_local_before_anything_runs(tmp_path: Path) -> None:
    root = tmp_path / "local"
    est = TensorFlow("train.py", PROJECTS / "allreduce", instance_count=2, distribution="parameter_server",
                     provider="local", provider_options={"root": str(root)})
    with pytest.raises(UnsupportedFeatureError) as caught:
        est.fit()
    message = str(caught.value)
    assert "parameter-server" in message and "multi_worker_mirrored" in message
    assert not root.exists(), "nothing was created"


def test_distribution_spellings_are_normalised() -> None:
    est = TensorFlow("train.py", PROJECTS / "allreduce", distribution="Multi-Worker-Mirrored", instance_count=2)
    assert est.spec.distribution == est.spec.effective_distribution == "multi_worker_mirrored"
    assert PyTorch("train.py", PROJECTS / "allreduce", distribution="DDP").spec.distribution == "ddp"
