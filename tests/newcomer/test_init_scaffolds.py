"""Issue 17 item 4: every template writes what `cloudml init --help` promises, and the commands `init` suggests
next run as printed (the cloud one as a dry run, sending nothing)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from cloudml.commands.init import available

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize("framework", available())
def test_template_has_a_dataset_wired_into_job_yaml(cli, tmp_path: Path, framework: str) -> None:
    assert cli(f"init {framework} {tmp_path / 'p'}").code == 0
    import yaml

    job = yaml.safe_load((tmp_path / "p" / "job.yaml").read_text())
    assert list((tmp_path / "p" / "data").glob("*.csv")), "no dataset written"
    assert job["inputs"] == {"training": "data/"}
    assert "instance_type" not in job and "instance_type" not in (job.get("resources") or {}), job
    help_text = cli("init --help").stdout
    assert "data/" in help_text and "inference.py where the model needs one" in help_text
    if framework == "pytorch":
        assert (tmp_path / "p" / "inference.py").is_file()


@pytest.mark.parametrize("framework", available())
def test_suggested_cloud_dry_run_works_as_printed(cli, tmp_path: Path, monkeypatch, framework: str) -> None:
    monkeypatch.chdir(tmp_path)
    run = cli(f"init {framework} demo")
    assert run.code == 0
    suggested = [line.split("#")[0].strip() for line in run.stdout.splitlines() if "--dry-run" in line]
    assert len(suggested) == 1, run.stdout
    argv = shlex.split(suggested[0])
    assert argv[0] == "cloudml"
    dry = cli(*argv[1:])
    assert dry.code == 0, dry.stdout + dry.stderr
    assert "ml." in dry.stdout   # the planner picked a SageMaker instance type
