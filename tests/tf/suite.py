"""TensorFlow expectations any provider rig can run, written against the public API only (like
``tests/conformance/suite.py``, and with the same ``Rig``).

A rig joins with ``class TestMyProviderTensorFlow(TensorFlowConformance): pass`` next to a ``rig`` fixture.
It may put in ``rig.extra``: ``checkpoint_uri`` -- a callable ``(name) -> URI`` of a checkpoint location the
rig's jobs can read and write (default: a local folder, right for ``local``).

The project is the TensorFlow template users get (``cloudml/templates/tensorflow``), unmodified: a Keras model
trained with a ``strategy.run`` loop, checkpointed every epoch, exported as a SavedModel in ``model/1/``.
Each test starts a few TensorFlow processes (several seconds each on a small machine), hence ``slow``.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

import cloudml
from cloudml import TensorFlow
from cloudml.providers.base import JobState
from tests.conformance.suite import Rig

TEMPLATE = Path(cloudml.__file__).resolve().parent / "templates" / "tensorflow"
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "2"}
WORKER_LINE = re.compile(r"\[worker (\d+)/(\d+)\] trained on (\d+) rows \(data ([0-9a-f]+)\), "
                         r"final weights checksum ([0-9a-f]+)")


def write_two_feature_data(folder: Path, rows: int = 300) -> Path:
    """y = 2 x1 - x2 + 1 (+ tiny noise) as CSV with a header line."""
    import random

    rng = random.Random(1)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.csv", "w") as f:
        f.write("x1,x2,y\n")
        for _ in range(rows):
            x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
            f.write(f"{x1:.6f},{x2:.6f},{2 * x1 - x2 + 1 + rng.gauss(0, 0.01):.6f}\n")
    return folder


def sample_predictions(text: str) -> dict[str, Any]:
    """The training process's own predictions for a few rows, as it logged them."""
    line = next(x for x in text.splitlines() if "sample predictions " in x)
    return json.loads(line.split("sample predictions ", 1)[1])


class TensorFlowConformance:
    """Subclass with a ``rig`` fixture."""

    def _estimator(self, rig: Rig, **kwargs: Any) -> TensorFlow:
        kwargs.setdefault("instance_type", rig.instance_type)
        return TensorFlow("train.py", TEMPLATE, provider=rig.provider, provider_options=rig.options,
                          environment=QUIET_TF, **kwargs)

    def _checkpoint_uri(self, rig: Rig, tmp_path: Path) -> str:
        make = rig.extra.get("checkpoint_uri")
        return make("tf-checkpoints") if make else str(tmp_path / "tf-checkpoints")

    @pytest.mark.slow
    def test_tensorflow_trains_resumes_exports_and_serves_what_it_trained(self, rig: Rig, tmp_path: Path,
                                                                          capsys: Any) -> None:
        data = rig.stage(write_two_feature_data(tmp_path / "data"), "training")
        ckpt = self._checkpoint_uri(rig, tmp_path)
        self._estimator(rig, hyperparameters={"epochs": 2}, checkpoint_uri=ckpt).fit({"training": data})
        first = capsys.readouterr().out
        assert re.findall(r"^epoch (\d) loss", first, re.M) == ["0", "1"]

        est = self._estimator(rig, hyperparameters={"epochs": 4}, checkpoint_uri=ckpt)
        job = est.fit({"training": data})
        out = capsys.readouterr().out
        assert "resumed from checkpoint at epoch 2" in out
        assert re.findall(r"^epoch (\d) loss", out, re.M) == ["2", "3"], "only the epochs left run"
        losses = [float(x) for x in re.findall(r"^epoch \d loss ([0-9.]+)", first + out, re.M)]
        assert losses[-1] < losses[0] / 4, f"the loss falls across the restart: {losses}"

        info = job.describe()
        assert info.state == JobState.COMPLETED and info.framework == "tensorflow"
        artifact = tmp_path / "model.tar.gz"
        est.provider.download(info.model_uri, str(artifact))
        with tarfile.open(artifact) as tar:
            names = {n.removeprefix("./") for n in tar.getnames()}
        assert {"1/saved_model.pb", "1/variables/variables.index"} <= names, "the SageMaker TF Serving layout"

        sample = sample_predictions(out)
        with est.deploy(instance_type=rig.deploy_instance_type, environment=QUIET_TF) as endpoint:
            served = endpoint.predict({"instances": sample["instances"]})["predictions"]
        assert len(served) == len(sample["predictions"]) == 3
        for got, want in zip(served, sample["predictions"], strict=True):
            assert got == pytest.approx(want, rel=1e-5, abs=1e-6), "the endpoint serves the model that trained"

    @pytest.mark.slow
    def test_tensorflow_two_workers_multi_worker_mirrored_stay_in_sync(self, rig: Rig, tmp_path: Path,
                                                                       capsys: Any) -> None:
        if not rig.multi_node:
            pytest.skip("this rig cannot run more than one node")
        data = rig.stage(write_two_feature_data(tmp_path / "data"), "training")
        est = self._estimator(rig, instance_count=2, distribution="multi_worker_mirrored",
                              hyperparameters={"epochs": 3})
        job = est.fit({"training": data})
        out = capsys.readouterr().out
        workers = {int(m[0]): m for m in WORKER_LINE.findall(out)}
        assert sorted(workers) == [0, 1] and all(m[1] == "2" for m in workers.values()), out
        assert workers[0][2] == workers[1][2] == "150", "each worker trains on its own half of the rows"
        assert workers[0][3] != workers[1][3], "the workers' data differ, so unsynchronised weights would too"
        assert workers[0][4] == workers[1][4], "all-reduced gradients leave both workers with the same weights"
        assert job.describe().state == JobState.COMPLETED
