"""Issue 17 item 10: one table of exit codes (README = cloudml.cli.EXIT_CODES), unknown names and refused bundles
are bad input (2), and under --json an error is a JSON document."""

from __future__ import annotations

import re
from pathlib import Path

from cloudml.cli import EXIT_CODES
from tests.cli.helpers import REPO


def test_readme_table_is_the_code_table() -> None:
    text = (REPO / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", text, flags=re.M))
    assert {int(k): v.replace("\\|", "|") for k, v in rows.items()} == EXIT_CODES


def test_unknown_names_are_bad_input(cli) -> None:
    for command in ("jobs describe no-such-job-17", "jobs logs no-such-job-17", "deploy no-such-job-17",
                    "endpoints describe no-such-endpoint-17"):
        run = cli(command)
        assert run.code == 2, (command, run.stderr)


def test_secrets_refusal_is_bad_input(cli, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / ".env").write_text("DB_PASSWORD=x\n")
    (tmp_path / "job.yaml").write_text("entry_point: train.py\n")
    run = cli(f"train {tmp_path / 'job.yaml'} --dry-run -p local")
    assert run.code == 2 and ".env" in run.stderr


def test_json_errors_are_json(cli, tmp_path: Path) -> None:
    run = cli("--json jobs describe no-such-job-17")
    assert run.code == 2
    assert run.json["error"]["exit_code"] == 2 and "no-such-job-17" in run.json["error"]["message"]
    (tmp_path / "job.yaml").write_text("entry_point: train.py\ninstnace_type: x\n")
    run = cli(f"--json train {tmp_path / 'job.yaml'} --dry-run")
    assert run.code == 2 and run.json["error"]["type"] == "ValidationError" and run.json["error"]["field"]
