"""Secrets planted in hyperparameters and environment (keys matching password|secret|token|key) never appear in
what cloudml prints or logs: ``train --dry-run`` (table and JSON), ``fit`` with its streamed log lines, ``jobs
describe``, and every log record at DEBUG -- on the local provider and the SageMaker rig."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cloudml import Estimator
from cloudml.cli import main
from tests.cli.helpers import configured_provider, regression_job

PLANTED = {"hp": "hp-planted-3f9a1c", "env": "env-planted-77b2e0"}
HPS = {"epochs": 1, "api_token": PLANTED["hp"]}
ENV = {"DB_PASSWORD": PLANTED["env"]}

LEAKY_TRAIN = """
import os, sys
print("argv:", " ".join(sys.argv[1:]), flush=True)
print("password is", os.environ.get("DB_PASSWORD"), flush=True)
model_dir = os.environ.get("SM_MODEL_DIR") or os.environ.get("CLOUDML_MODEL_DIR") or "model"
os.makedirs(model_dir, exist_ok=True)
open(os.path.join(model_dir, "m.txt"), "w").write("ok")
"""


def ours(caplog: Any) -> str:
    """cloudml's own log records (the SDKs' DEBUG request dumps are kept at INFO by ``cloudml --debug``)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cloudml"))


def assert_clean(*texts: str) -> None:
    for text in texts:
        for value in PLANTED.values():
            assert value not in text, f"secret {value!r} leaked into:\n{text[:2000]}"


def cli(*argv: str) -> Any:
    result = CliRunner().invoke(main, list(argv))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def job_yaml(tmp_path: Path) -> Path:
    return regression_job(tmp_path, hyperparameters="{epochs: 1, api_token: " + PLANTED["hp"] + "}",
                          environment="{DB_PASSWORD: " + PLANTED["env"] + "}")


@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_dry_run_masks_secrets_on_local_and_sagemaker(sagemaker_rig, job_yaml: Path, fmt: list[str], caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with configured_provider("sagemaker", sagemaker_rig.provider_options()):
        for provider, extra in (("local", []), ("sagemaker", ["--set", "instance_type=ml.m5.xlarge"])):
            result = cli(*fmt, "train", str(job_yaml), "--dry-run", "-p", provider, *extra)
            assert "****" in result.stdout or "****" in result.output
            assert_clean(result.stdout, result.stderr, ours(caplog))
    assert sagemaker_rig.sent("CreateTrainingJob") == []


def leaky_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(textwrap.dedent(LEAKY_TRAIN))
    return root


def test_fit_logs_and_describe_mask_secrets_on_local(tmp_path: Path, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    est = Estimator("train.py", leaky_project(tmp_path / "src"), provider="local", hyperparameters=HPS,
                    environment=ENV)
    job = est.fit()
    out = capsys.readouterr()
    assert "argv:" in out.out and "password is" in out.out, "the script's lines were streamed"
    described = cli("jobs", "describe", job.name, "-p", "local")
    logs = cli("jobs", "logs", job.name, "-p", "local")
    assert_clean(out.out, out.err, ours(caplog), described.stdout, logs.stdout, "\n".join(job.logs()))


def test_fit_logs_and_describe_mask_secrets_on_sagemaker(sagemaker_rig, tmp_path: Path, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    options = sagemaker_rig.provider_options()
    est = Estimator("train.py", leaky_project(tmp_path / "src"), provider="sagemaker", instance_type="ml.m5.xlarge",
                    provider_options=options, hyperparameters=HPS, environment=ENV)
    job = est.fit()
    out = capsys.readouterr()
    assert "argv:" in out.out and "password is" in out.out
    with configured_provider("sagemaker", options):
        described = cli("jobs", "describe", job.name, "-p", "sagemaker")
        logs = cli("jobs", "logs", job.name, "-p", "sagemaker")
    assert_clean(out.out, out.err, ours(caplog), described.stdout, logs.stdout, "\n".join(job.logs()))


def test_train_refuses_a_tree_with_credentials_unless_allow_secrets(tmp_path: Path) -> None:
    src = leaky_project(tmp_path / "src")
    (src / ".env").write_text("DB_PASSWORD=x\n")
    (src / "settings.py").write_text('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n')
    job = tmp_path / "job.yaml"
    job.write_text(f"entry_point: train.py\nsource_dir: {src}\n")
    refused = CliRunner().invoke(main, ["train", str(job), "--dry-run", "-p", "local"])
    assert refused.exit_code == 2
    assert ".env (a credential file name)" in refused.stderr and "settings.py (AWS secret access key)" in refused.stderr
    allowed = CliRunner().invoke(main, ["--json", "train", str(job), "--dry-run", "-p", "local", "--allow-secrets"])
    assert allowed.exit_code == 0, allowed.output
