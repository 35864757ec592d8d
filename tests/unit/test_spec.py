"""Bad input is refused with an error naming the field and the fix, before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudml import Estimator, Resources, accelerators
from cloudml.errors import CloudMLError, UnknownProviderError, ValidationError
from cloudml.spec import DeploySpec, SourceCode, TrainingSpec, make_job_name

SRC = Path(__file__).resolve().parent.parent / "projects" / "regression"


@pytest.mark.parametrize("kwargs, field", [
    ({"instance_count": 0}, "instance_count"),
    ({"instance_count": -2}, "instance_count"),
    ({"processes_per_node": 0}, "processes_per_node"),
    ({"framework_version": "1.0"}, "framework_version"),
    ({"framework": "jax"}, "framework"),
    ({"hyperparameters": {"lr": object()}}, "hyperparameters['lr']"),
    ({"hyperparameters": {"bad key": 1}}, "hyperparameters['bad key']"),
    ({"hyperparameters": {"x": float("nan")}}, "hyperparameters['x']"),
    ({"environment": {"A": 1}}, "environment['A']"),
    ({"distribution": "horovod"}, "distribution"),
    ({"max_run_seconds": 0}, "max_run_seconds"),
])
def test_bad_estimator_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Estimator("train.py", SRC, provider="local", **kwargs)
    assert caught.value.field == field
    assert field.split("[")[0] in str(caught.value)


def test_unknown_framework_version_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationError, match=r"supported: .*2\.5"):
        Estimator("train.py", SRC, framework_version="9.9")


def test_unknown_provider_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownProviderError) as caught:
        Estimator("train.py", SRC, provider="nimbus")
    assert "local" in str(caught.value) and caught.value.field == "provider"
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, CloudMLError)


@pytest.mark.parametrize("text, expected", [
    ("A100:8", ("A100", 8)), ("a100", ("A100", 1)), ("tpu-v5e:8", ("TPU-V5E", 8)), ("h100:2", ("H100", 2)),
    ("A100-80GB:4", ("A100-80GB", 4)), ("v100_32gb", ("V100-32GB", 1)), ("TPU_V5_LITE:4", ("TPU-V5E", 4)),
])
def test_accelerator_strings(text: str, expected: tuple[str, int]) -> None:
    assert accelerators.parse(text) == expected


@pytest.mark.parametrize("text", ["A100:0", "A100:-1", "FOO", "A100:x", "", ":4"])
def test_bad_accelerator_strings(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Resources(accelerator=text)
    assert caught.value.field == "resources.accelerator"
    assert "A100:8" in str(caught.value), "the accepted forms are shown"


@pytest.mark.parametrize("kwargs, field", [
    ({"max_hourly_usd": -1}, "resources.max_hourly_usd"), ({"max_total_usd": 0}, "resources.max_total_usd"),
    ({"spot": "yes"}, "resources.spot"), ({"region": "Not A Region!"}, "resources.region"),
    ({"instance_type": ""}, "resources.instance_type"),
])
def test_bad_resources(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Resources(**kwargs)
    assert caught.value.field == field


def test_entry_point_checks_happen_in_validate(tmp_path: Path) -> None:
    spec = TrainingSpec(source=SourceCode("missing.py", str(SRC)))  # constructing does no file-system I/O
    with pytest.raises(ValidationError) as caught:
        spec.validate()
    assert caught.value.field == "entry_point"
    outside = TrainingSpec(source=SourceCode("../failing/train.py", str(SRC)))
    with pytest.raises(ValidationError, match="outside source_dir"):
        outside.validate()


def test_channel_uris_must_match_the_provider(tmp_path: Path) -> None:
    spec = TrainingSpec(source=SourceCode("train.py", str(SRC)), channels={"train": "gs://b/data"})
    with pytest.raises(ValidationError) as caught:
        spec.validate(storage_schemes=("s3",))
    assert caught.value.field == "channels['train']" and "s3://" in str(caught.value)
    spec.validate(storage_schemes=("gs",))
    missing = TrainingSpec(source=SourceCode("train.py", str(SRC)), channels={"train": str(tmp_path / "nope")})
    with pytest.raises(ValidationError, match="does not exist"):
        missing.validate()


def test_deploy_spec_checks() -> None:
    with pytest.raises(ValidationError) as caught:
        DeploySpec(model_uri="m.tar.gz", min_replicas=3, max_replicas=2)
    assert caught.value.field == "max_replicas"
    with pytest.raises(ValidationError):
        DeploySpec(model_uri="")


def test_job_names_are_unique_and_service_safe() -> None:
    names = {make_job_name("My_Training script" * 5) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert len(name) <= 63 and name.replace("-", "").isalnum()


def test_specs_are_immutable() -> None:
    spec = TrainingSpec(source=SourceCode("train.py", str(SRC)), hyperparameters={"a": 1})
    with pytest.raises(AttributeError):
        spec.instance_count = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.hyperparameters["a"] = 2  # type: ignore[index]


def test_fit_with_bad_input_starts_no_process(tmp_path: Path) -> None:
    root = tmp_path / "local"
    est = Estimator("missing.py", SRC, provider="local", provider_options={"root": str(root)})
    with pytest.raises(ValidationError):
        est.fit()
    assert not (root / "jobs").exists(), "nothing was created"


def test_import_cloudml_loads_no_heavy_module() -> None:
    code = (
        "import sys; before = set(sys.modules); import cloudml, cloudml.providers, cloudml.spec, cloudml.packaging;"
        "new = set(sys.modules) - before;"
        "heavy = ('boto3', 'botocore', 'sagemaker', 'google', 'azure', 'torch', 'tensorflow', 'keras', 'numpy');"
        "print(sorted(m for m in new if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
