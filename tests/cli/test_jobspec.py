"""The job YAML: one to one with the Python API, validated with suggestions, paths relative to the file."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from cloudml import Estimator, Resources, jobspec
from cloudml.errors import ValidationError
from tests.cli.helpers import PROJECTS, write_job


def test_schema_mirrors_the_python_signatures():
    estimator = set(inspect.signature(Estimator.__init__).parameters) - {"self"}
    assert set(jobspec.SCHEMA) - {"inputs", "job_name", "deploy"} == estimator
    assert set(jobspec.RESOURCES) == {f.name for f in dataclasses.fields(Resources)}
    fit = set(inspect.signature(Estimator.fit).parameters)
    assert {"inputs", "job_name"} <= fit
    deploy = set(inspect.signature(Estimator.deploy).parameters) - {"self", "auth_token"}  # no secrets in files
    assert set(jobspec.DEPLOY) == deploy


def test_yaml_builds_the_same_spec_as_python(tmp_path):
    text = f"""
    entry_point: train.py
    source_dir: {PROJECTS / 'regression'}
    framework: pytorch
    framework_version: "2.4"
    instance_count: 2
    processes_per_node: 2
    distribution: ddp
    hyperparameters: {{epochs: 3, lr: 0.1, layers: [8, 4], opts: {{a: 1}}}}
    environment: {{MODE: fast, LEVEL: 3, ON: true}}
    resources: {{instance_type: ml.m5.xlarge, spot: true, volume_gb: 50, max_hourly_usd: 2.5}}
    max_run_seconds: 600
    max_wait_seconds: 1200
    tags: {{team: ml}}
    ignore: ["*.csv"]
    base_job_name: exp
    provider: local
    provider_options: {{root: /tmp/x}}
    """
    from_yaml = jobspec.load(write_job(tmp_path, text)).estimator()
    by_hand = Estimator(
        "train.py", PROJECTS / "regression", "pytorch", "2.4", instance_count=2, processes_per_node=2,
        distribution="ddp", hyperparameters={"epochs": 3, "lr": 0.1, "layers": [8, 4], "opts": {"a": 1}},
        environment={"MODE": "fast", "LEVEL": "3", "ON": "true"},
        resources=Resources(instance_type="ml.m5.xlarge", spot=True, volume_gb=50, max_hourly_usd=2.5),
        max_run_seconds=600, max_wait_seconds=1200, tags={"team": "ml"}, ignore=("*.csv",), base_job_name="exp",
        provider="local", provider_options={"root": "/tmp/x"},
    )
    assert from_yaml.spec == by_hand.spec
    assert from_yaml.provider_options == by_hand.provider_options and from_yaml.base_job_name == "exp"


def test_relative_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "proj" / "src").mkdir(parents=True)
    path = write_job(tmp_path / "proj", """
    entry_point: train.py
    source_dir: src
    inputs: {training: data/, extra: s3://bucket/x/, abs: /data/abs}
    checkpoint_uri: ckpt
    output_uri: gs://b/out
    """)
    job = jobspec.load(path)
    kwargs = job.estimator_kwargs()
    base = (tmp_path / "proj").resolve()
    assert kwargs["source_dir"] == str(base / "src") and kwargs["checkpoint_uri"] == str(base / "ckpt")
    assert kwargs["output_uri"] == "gs://b/out"
    assert job.inputs == {"training": str(base / "data/"), "extra": "s3://bucket/x/", "abs": "/data/abs"}
    assert jobspec.parse("entry_point: t.py\ninputs: d\n", base / "job.yaml").inputs == str(base / "d")


@pytest.mark.parametrize("text, needles", [
    ("entry_point: t.py\ninstnace_type: ml.m5.xlarge\n", ["job.yaml:2: instnace_type", "did you mean instance_type"]),
    ("entry_point: t.py\nresources:\n  acelerator: A100\n", ["job.yaml:3: resources.acelerator", "did you mean accelerator"]),
    ("entry_point: t.py\ndeploy: {min_replica: 2}\n", ["deploy.min_replica", "did you mean min_replicas"]),
    ("entry_point: t.py\nzzz: 1\n", ["zzz: unknown key", "known keys: entry_point"]),
    ("entry_point: t.py\ninstance_count: two\n", ["instance_count: must be a whole number, got str 'two'"]),
    ("entry_point: t.py\nresources: {spot: 3}\n", ["resources.spot: must be true or false"]),
    ("entry_point: t.py\nframework_version: 2.10\n", ["framework_version", 'quote it: framework_version: "2.10"']),
    ("entry_point: t.py\nhyperparameters: [1, 2]\n", ["hyperparameters: must be a mapping"]),
    ("entry_point: t.py\nignore: data/\n", ["ignore: must be a list of strings"]),
    ("source_dir: .\n", ["entry_point: is required"]),
    ("", ["entry_point: is required"]),
    ("- a\n- b\n", ["must be a mapping of settings"]),
    ("entry_point: [unclosed\n", ["not valid YAML"]),
])
def test_bad_files_name_the_key_and_the_fix(text, needles):
    with pytest.raises(ValidationError) as info:
        jobspec.parse(text, "job.yaml")
    for needle in needles:
        assert needle in str(info.value)


def test_set_overrides_are_yaml_values_and_validated():
    job = jobspec.parse("entry_point: t.py\nhyperparameters: {lr: 0.1}\n", "job.yaml",
                        ["hyperparameters.epochs=5", "resources.spot=true", "tags.team=ml", "hyperparameters.name=x y"])
    assert job.values["hyperparameters"] == {"lr": 0.1, "epochs": 5, "name": "x y"}
    assert job.values["resources"] == {"spot": True} and job.values["tags"] == {"team": "ml"}
    with pytest.raises(ValidationError, match="did you mean instance_type"):
        jobspec.parse("entry_point: t.py\n", "job.yaml", ["instnace_type=x"])
    for bad in ("novalue", "=3", "a..b=1"):
        with pytest.raises(ValidationError, match="--set"):
            jobspec.parse("entry_point: t.py\n", "job.yaml", [bad])


def test_values_python_refuses_are_refused_with_the_same_field_names(tmp_path):
    path = write_job(tmp_path, f"entry_point: train.py\nsource_dir: {PROJECTS / 'regression'}\n"
                               "resources: {accelerator: 'Z999:1'}\n")
    with pytest.raises(ValidationError, match="resources.accelerator"):
        jobspec.load(path).estimator()


def test_cli_typo_exits_2_with_a_suggestion(cli, tmp_path):
    path = write_job(tmp_path, "entry_point: train.py\ninstnace_type: ml.m5.xlarge\n")
    r = cli("train", str(path))
    assert r.code == 2
    assert "did you mean instance_type" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_cli_missing_file_exits_2_naming_the_path(cli, tmp_path):
    missing = tmp_path / "nowhere" / "job.yaml"
    r = cli("train", str(missing))
    assert r.code == 2 and str(missing) in r.stderr and "does not exist" in r.stderr
    r = cli("train", str(tmp_path))
    assert r.code == 2 and "is a folder" in r.stderr


def test_debug_shows_the_traceback(cli, tmp_path):
    path = write_job(tmp_path, "entry_point: train.py\ninstnace_type: x\n")
    r = cli("--debug", "train", str(path))
    assert isinstance(r.exception, ValidationError)


def test_unknown_provider_exits_2(cli, tmp_path):
    path = write_job(tmp_path, f"entry_point: train.py\nsource_dir: {PROJECTS / 'regression'}\n")
    r = cli("train", str(path), "--provider", "nope", "--dry-run")
    assert r.code == 2 and "unknown provider 'nope'" in r.stderr


def test_template_job_yaml_is_valid_for_every_template():
    from cloudml.commands.init import available, templates_root

    assert "pytorch" in available()
    for name in available():
        job_yaml = Path(str(templates_root() / name / "job.yaml"))
        assert jobspec.load(job_yaml).values["entry_point"]
