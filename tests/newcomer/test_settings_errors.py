"""Issue 17 items 2 and 4: a missing setting is one exit-2 error naming the setting and the three ways to set it."""

from __future__ import annotations

from pathlib import Path

import pytest

THREE_WAYS = ("provider_options=", "cloudml config set sagemaker.region", "-C region=")


@pytest.fixture
def no_aws_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "CLOUDML_SAGEMAKER_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.mark.parametrize("command", [
    "jobs list", "jobs describe j-1", "jobs logs j-1", "jobs stop j-1", "endpoints list",
    "endpoints predict e-1 '{\"instances\": [[1]]}'", "deploy j-1", "cleanup --dry-run",
])
def test_sagemaker_without_region_says_how_to_set_it(cli, no_aws_region, command: str) -> None:
    run = cli(f"{command} -p sagemaker")
    assert run.code == 2, run.stderr
    assert "unexpected" not in run.stderr
    for way in THREE_WAYS:
        assert way in run.stderr, run.stderr


def test_train_without_region_is_refused_not_sent_to_us_east_1(cli, no_aws_region, tmp_path: Path) -> None:
    """Before: the planner's us-east-1 offer quietly became the job's region; `jobs list` could not find it."""
    assert cli(f"init pytorch {tmp_path / 'demo'}").code == 0
    run = cli(f"train {tmp_path / 'demo' / 'job.yaml'} -p sagemaker --dry-run -C bucket=my-bucket "
              "-C role_arn=arn:aws:iam::123456789012:role/R")
    assert run.code == 2, run.stdout + run.stderr
    for way in THREE_WAYS:
        assert way in run.stderr, run.stderr


def test_missing_role_and_bucket_name_every_way_to_set_them(cli, no_aws_region, tmp_path: Path) -> None:
    assert cli(f"init pytorch {tmp_path / 'demo'}").code == 0
    run = cli(f"train {tmp_path / 'demo' / 'job.yaml'} -p sagemaker --dry-run -C region=us-east-1")
    assert run.code == 2
    for key in ("role_arn", "bucket"):
        assert f"cloudml config set sagemaker.{key}" in run.stderr and f"-C {key}=" in run.stderr, run.stderr
