"""TensorFlow on the local provider: the rig-neutral expectations of ``tests/tf/suite.py`` with real processes
(real MultiWorkerMirroredStrategy over 127.0.0.1), plus checks of the template files and of how the serving
adapter finds a SavedModel in each serving stack's layout (no TensorFlow import in this process)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from cloudml import Estimator, Resources
from cloudml.runtime.launcher import _lists_requirements
from cloudml.runtime.serving import _find_saved_model
from tests.conformance.suite import Rig
from tests.tf.suite import TEMPLATE, TensorFlowConformance


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(provider="local", options={"root": str(tmp_path / "local")})


class TestLocalTensorFlow(TensorFlowConformance):
    pass


def test_template_job_yaml_keys_are_estimator_arguments() -> None:
    job = yaml.safe_load((TEMPLATE / "job.yaml").read_text())
    inputs = job.pop("inputs")
    params = inspect.signature(Estimator.__init__).parameters
    assert set(job) <= set(params), set(job) - set(params)
    job["source_dir"] = TEMPLATE / job["source_dir"]
    job["resources"] = Resources(**job.get("resources", {}))
    est = Estimator(**job)
    spec = est.prepare({k: str(TEMPLATE / v) for k, v in inputs.items()} or None)
    assert (spec.framework, spec.effective_distribution, spec.source.entry_point) == (
        "tensorflow", "multi_worker_mirrored", "train.py")
    assert set(spec.hyperparameters) == {"epochs", "batch_size", "learning_rate", "export_layout"}


def test_template_requirements_install_nothing_extra() -> None:
    assert (TEMPLATE / "requirements.txt").is_file()
    assert not _lists_requirements(str(TEMPLATE / "requirements.txt"))


@pytest.mark.parametrize(("layout", "found"), [
    (["saved_model.pb", "variables/variables.index"], "."),              # Vertex: at the artifact root
    (["1/saved_model.pb", "code/inference.py"], "1"),                     # SageMaker TF Serving
    (["1/saved_model.pb", "2/saved_model.pb", "10/saved_model.pb"], "10"),  # the newest version wins
    (["export/Servo/3/saved_model.pb"], None),                            # deeper than serving stacks look
    (["regressor/1/saved_model.pb"], "regressor/1"),                      # TF Serving multi-model folder
    (["a/1/saved_model.pb", "b/1/saved_model.pb"], None),                 # ambiguous: no guess
    (["model.pt"], None),
])
def test_serving_adapter_finds_the_saved_model_in_each_layout(tmp_path: Path, layout: list[str],
                                                              found: str | None) -> None:
    for rel in layout:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    expected = None if found is None else str(tmp_path) if found == "." else str(tmp_path / found)
    assert _find_saved_model(str(tmp_path)) == expected
