"""Issue 17 item 8: `config set` refuses a key the provider would refuse; `doctor` reports a default provider
without credentials; `cleanup --dry-run` lists what it can when one configured provider cannot be listed."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("key, suggestion", [("sagemaker.buckt", "sagemaker.bucket"),
                                             ("vertex.projet", "vertex.project"),
                                             ("azureml.workspce", "azureml.workspace"),
                                             ("local.rot", "local.root")])
def test_config_set_refuses_a_key_typo(cli, key: str, suggestion: str) -> None:
    run = cli(f"config set {key} x")
    assert run.code == 2, run.stdout + run.stderr
    assert f"did you mean {suggestion}?" in run.stderr
    assert key.partition(".")[2] not in cli("config show").stdout


def test_config_set_refuses_a_value_the_provider_cannot_read(cli) -> None:
    run = cli("config set sagemaker.max_attempts many")
    assert run.code == 2 and "sagemaker.max_attempts" in run.stderr


def test_config_set_accepts_known_keys(cli) -> None:
    assert cli("config set sagemaker.bucket my-bucket").code == 0
    assert cli("config set local.root /tmp/x").code == 0


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def test_doctor_reports_a_default_provider_without_credentials(cli, no_credentials) -> None:
    assert cli("config set defaults.provider sagemaker").code == 0
    run = cli("doctor")
    assert run.code == 1, run.stdout
    assert "no problems" not in run.stdout
    assert "default provider sagemaker has no credentials" in run.stdout
    assert cli("config set defaults.provider local").code == 0
    assert cli("doctor").code == 0


def test_cleanup_dry_run_lists_the_others_when_one_provider_cannot_be_listed(cli, no_credentials) -> None:
    assert cli("config set sagemaker.bucket my-bucket").code == 0     # a section, but no region
    run = cli("--json cleanup --dry-run")
    assert run.code == 1, run.stderr
    rows = run.json
    failed = [r for r in rows if r["provider"] == "sagemaker"]
    assert failed and "cannot list" in failed[0]["action"] and "region" in failed[0]["action"]
    assert all(r["action"] == "would delete" for r in rows if r["provider"] == "local")
