"""The provider conformance suite: what every provider must do, written once against the public API.

A provider joins by adding ``tests/conformance/test_<provider>.py`` with a ``rig`` fixture returning a ``Rig``
and a class ``class TestMyProvider(ProviderConformance): pass`` — fixtures only, no test code. The rig decides
how jobs really run offline (local processes, moto + contract runner, fake Vertex/Azure + emulators); the suite
only uses what a user uses: ``Estimator``, ``Job``, ``Endpoint``, their errors, and what they print.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloudml import Estimator
from cloudml.errors import JobFailedError, JobStoppedError, NotFoundError, ValidationError
from cloudml.providers.base import JobState

PROJECTS = Path(__file__).resolve().parent.parent / "projects"


@dataclass
class Rig:
    """How the suite reaches one provider offline."""

    provider: str
    options: dict[str, Any]
    #: (local folder, channel name) -> a URI the provider's jobs read (uploaded to the rig's storage) or a path
    stage: Callable[[Path, str], str] = lambda path, name: str(path)
    instance_type: str | None = None
    deploy_instance_type: str | None = None
    multi_node: bool = True          # the rig runs instance_count > 1 for real
    reports_exit_code: bool = True   # the provider reports the script's exit code
    #: number of requests the rig's servers have received so far (None: the rig cannot count)
    request_count: Callable[[], int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def estimator(self, project: str, **kwargs: Any) -> Estimator:
        kwargs.setdefault("instance_type", self.instance_type)
        return Estimator("train.py", PROJECTS / project, provider=self.provider, provider_options=self.options,
                         **kwargs)


def write_regression_data(folder: Path, rows: int = 200) -> Path:
    """y = 2x + 1 (+ tiny noise), as CSV rows ``x,y``."""
    import random

    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.csv", "w") as f:
        for _ in range(rows):
            x = rng.uniform(-1, 1)
            f.write(f"{x:.6f},{2 * x + 1 + rng.gauss(0, 0.01):.6f}\n")
    return folder


def regression_artifact(root: Path) -> Path:
    """``root/model.tar.gz`` as the regression project writes it, with known weights: y = 2x + 1."""
    import torch

    from cloudml import packaging

    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(2.0)
        model.bias.fill_(1.0)
    (root / "model").mkdir(parents=True)
    torch.save(model.state_dict(), root / "model" / "model.pth")
    (root / "model" / "meta.json").write_text(json.dumps({"features": 1}))
    return packaging.tar_dir(root / "model", root / "model.tar.gz")


def losses(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"epoch \d+ loss ([0-9.]+)", text)]


class ProviderConformance:
    """Subclass with a ``rig`` fixture. Every test here must pass for every provider."""

    @pytest.fixture
    def data(self, tmp_path: Path) -> Path:
        return write_regression_data(tmp_path / "data")

    def _fit_regression(self, rig: Rig, data: Path, **kwargs: Any) -> tuple[Estimator, Any]:
        est = rig.estimator("regression", hyperparameters={"epochs": 40, "lr": 0.5}, **kwargs)
        job = est.fit({"training": rig.stage(data, "training")})
        return est, job

    def test_fit_trains_a_real_model_and_streams_logs(self, rig: Rig, data: Path, capsys: Any) -> None:
        est, job = self._fit_regression(rig, data)
        info = job.describe()
        assert info.state == JobState.COMPLETED
        assert info.model_uri
        seen = losses(capsys.readouterr().out)
        assert len(seen) == 40, "every epoch's log line is streamed to the caller"
        assert seen[-1] < seen[0] / 10, f"the loss falls: {seen[0]} -> {seen[-1]}"
        assert info.hyperparameters == {"epochs": 40, "lr": 0.5}

    def test_deploy_predict_delete(self, rig: Rig, data: Path) -> None:
        est, job = self._fit_regression(rig, data)
        endpoint = est.deploy(instance_type=rig.deploy_instance_type)
        try:
            result = endpoint.predict({"instances": [[0.0], [1.0], [2.0]]})
            preds = [row[0] for row in result["predictions"]]
            assert preds == pytest.approx([1.0, 3.0, 5.0], abs=0.05), "the served model is the trained one"
        finally:
            endpoint.delete()
        with pytest.raises(NotFoundError):
            endpoint.describe()
        endpoint.delete()  # idempotent

    def test_attach_rebuilds_the_estimator_and_deploys(self, rig: Rig, data: Path) -> None:
        est, job = self._fit_regression(rig, data)
        again = Estimator.attach(job.name, provider=rig.provider, provider_options=rig.options)
        assert again.hyperparameters == {"epochs": 40, "lr": 0.5}
        assert again.framework == "pytorch"
        assert again.latest_job is not None and again.latest_job.state == JobState.COMPLETED
        assert again.model_uri == job.model_uri
        with again.deploy(instance_type=rig.deploy_instance_type) as endpoint:
            preds = endpoint.predict({"instances": [[3.0]]})["predictions"]
            assert preds[0][0] == pytest.approx(7.0, abs=0.1)

    def test_failure_carries_reason_exit_code_and_last_lines(self, rig: Rig) -> None:
        est = rig.estimator("failing")
        with pytest.raises(JobFailedError) as caught:
            est.fit()
        err = caught.value
        assert any("bad data in row 7" in line for line in err.log_tail), err.log_tail
        assert err.reason and err.reason != "Failed"
        if rig.reports_exit_code:
            assert err.exit_code == 3
        assert est.latest_job is not None and est.latest_job.state == JobState.FAILED

    def test_stop_a_running_job(self, rig: Rig) -> None:
        est = rig.estimator("slow")
        job = est.fit(wait=False)
        deadline = time.monotonic() + 120
        lines: list[str] = []
        while not any("still working" in line for line in lines):
            assert time.monotonic() < deadline, "the job never started"
            lines += job.new_log_lines()
            time.sleep(0.1)
        job.stop()
        with pytest.raises(JobStoppedError):
            job.wait(timeout=120, logs=False)
        assert job.state == JobState.STOPPED

    def test_sagemaker_style_script_runs_unmodified(self, rig: Rig, data: Path, capsys: Any) -> None:
        est = rig.estimator("sm_style", hyperparameters={"epochs": 3})
        est.fit({"training": rig.stage(data, "training")})
        line = next(x for x in capsys.readouterr().out.splitlines() if "sm-style report" in x)
        report = json.loads(line.split("sm-style report ", 1)[1])
        assert report["epochs"] == 3 and report["rows"] == 200 and report["num_gpus"] == 0
        assert report["current_host"] in report["hosts"] and len(report["hosts"]) == 1

    def test_two_nodes_really_all_reduce(self, rig: Rig, capsys: Any) -> None:
        if not rig.multi_node:
            pytest.skip("this rig cannot run more than one node")
        est = rig.estimator("allreduce", instance_count=2)
        est.fit()
        out = capsys.readouterr().out
        # ranks contribute 1 and 2: only a working process group gives each of them 3
        assert len(re.findall(r"rank [01]/2 allreduce=3\.0", out)) == 2, out

    def test_bad_input_is_refused_before_any_request(self, rig: Rig, data: Path) -> None:
        before = rig.request_count() if rig.request_count else None
        with pytest.raises(ValidationError) as caught:
            rig.estimator("regression", instance_count=0)
        assert caught.value.field == "instance_count"
        with pytest.raises(ValidationError) as caught:
            rig.estimator("regression", framework_version="0.3")
        assert caught.value.field == "framework_version"
        with pytest.raises(ValidationError) as caught:
            rig.estimator("regression", hyperparameters={"lr": {1, 2}})
        assert "hyperparameters" in caught.value.field
        est = Estimator("missing.py", PROJECTS / "regression", provider=rig.provider, provider_options=rig.options,
                        instance_type=rig.instance_type)
        with pytest.raises(ValidationError) as caught:
            est.fit({"training": str(data)})
        assert caught.value.field == "entry_point"
        if before is not None:
            assert rig.request_count() == before, "validation made a request"
