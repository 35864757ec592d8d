"""Probes on what users type: job YAML (alias bombs, recursive aliases, duplicate keys), hyperparameters (NUL,
multi-MB values), absurd counts, ``provider_options`` of the wrong type. Each is refused before anything runs,
naming the field (and for YAML the line), instead of a launcher traceback or an "unexpected TypeError"."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudml import Estimator, jobspec, providers
from cloudml.cli import main
from cloudml.errors import ValidationError
from tests.conformance.suite import PROJECTS

BOMB = "".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
    *[f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)],
    "entry_point: train.py\n",
])


def test_a_yaml_alias_bomb_is_refused_quickly_naming_the_line() -> None:
    with pytest.raises(ValidationError) as caught:
        jobspec.parse(BOMB, "job.yaml")
    assert "alias" in str(caught.value) and "job.yaml:" in str(caught.value)


def test_a_recursive_yaml_alias_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        jobspec.parse("entry_point: train.py\nhyperparameters: &h {x: *h}\n", "job.yaml")
    assert "recursive" in str(caught.value)


@pytest.mark.parametrize("text,line", [
    ("entry_point: train.py\nhyperparameters: {lr: 1}\nhyperparameters: {lr: 2}\n", 3),
    ("entry_point: train.py\nhyperparameters:\n  lr: 1\n  lr: 2\n", 4),
    ("entry_point: train.py\nentry_point: other.py\n", 2),
])
def test_duplicate_yaml_keys_are_errors_naming_both_lines(text: str, line: int) -> None:
    with pytest.raises(ValidationError) as caught:
        jobspec.parse(text, "job.yaml")
    assert f"job.yaml:{line}" in str(caught.value) and "duplicate key" in str(caught.value)
    assert "first given on line" in str(caught.value)


def test_small_legitimate_aliases_still_work() -> None:
    job = jobspec.parse("entry_point: train.py\ntags: &t {team: ml}\ndeploy: {tags: *t}\n", "job.yaml")
    assert job.deploy["tags"] == {"team": "ml"}


def test_the_cli_reports_a_duplicate_key_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("entry_point: train.py\nsource_dir: .\nsource_dir: ..\n")
    result = CliRunner().invoke(main, ["train", str(path), "--dry-run", "-p", "local"])
    assert result.exit_code == 2, result.output
    assert "duplicate key 'source_dir'" in result.output


@pytest.mark.parametrize("hps,field", [
    ({"x": "a\x00b"}, "hyperparameters['x']"),
    ({"x": ["ok", {"deep": "nul\x00"}]}, "hyperparameters['x']"),
    ({"x": "y" * (3 * 1024 * 1024)}, "hyperparameters['x']"),
    ({f"k{i}": "v" * 2000 for i in range(100)}, "hyperparameters"),
    ({"bad key": 1}, "hyperparameters['bad key']"),
    ({"x": float("nan")}, "hyperparameters['x']"),
])
def test_hyperparameters_that_cannot_reach_a_script_are_refused_up_front(hps: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Estimator("train.py", PROJECTS / "regression", provider="local", hyperparameters=hps)
    assert caught.value.field == field
    assert len(str(caught.value)) < 500, "the message does not echo a multi-MB value"


def test_environment_values_with_nul_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Estimator("train.py", PROJECTS / "regression", provider="local", environment={"A": "x\x00y"})
    assert caught.value.field == "environment['A']"


@pytest.mark.parametrize("field,value", [("instance_count", 10**23), ("instance_count", 1e23),
                                         ("instance_count", 5000), ("processes_per_node", 10**6),
                                         ("instance_count", True), ("instance_count", "2")])
def test_absurd_counts_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Estimator("train.py", PROJECTS / "regression", provider="local", **{field: value})
    assert caught.value.field == field


def test_instance_count_1e23_in_yaml_is_refused_naming_the_line() -> None:
    for text in ("entry_point: train.py\ninstance_count: 1e23\n",
                 "entry_point: train.py\ninstance_count: 100000000000000000000000\n"):
        with pytest.raises(ValidationError) as caught:
            jobspec.parse(text, "job.yaml").estimator(provider="local")
        assert "instance_count" in str(caught.value)


@pytest.mark.parametrize("options,field", [
    ("bucket=x", "provider_options"),
    (["bucket", "x"], "provider_options"),
    ({1: "x"}, "provider_options"),
    ({"root": 5}, "provider_options['root']"),
    ({"host": ["127.0.0.1"]}, "provider_options['host']"),
])
def test_provider_options_of_the_wrong_type_are_a_clear_error(options: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _ = Estimator("train.py", PROJECTS / "regression", provider="local", provider_options=options).provider
    assert caught.value.field == field


@pytest.mark.parametrize("provider,options,field", [
    ("sagemaker", {"bucket": 5}, "provider_options['bucket']"),
    ("sagemaker", {"role_arn": ["arn"]}, "provider_options['role_arn']"),
    ("vertex", {"project": 123}, "provider_options['project']"),
    ("azureml", {"subscription_id": {"id": 1}}, "provider_options['subscription_id']"),
])
def test_cloud_provider_options_are_type_checked(provider: str, options: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        providers.get(provider, **options)
    assert caught.value.field == field


def test_the_cli_turns_a_wrong_option_type_into_exit_code_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["jobs", "list", "-p", "local", "-C", "root=[1, 2]"])
    assert result.exit_code in (0, 2), result.output
    assert "unexpected" not in result.output
