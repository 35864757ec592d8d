"""Issue 17 item 10 (consistency): the same option means the same thing in every command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cloudml.cli import main


def _commands(group: click.Group, ctx: click.Context, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out += _commands(cmd, ctx, f"{prefix}{name} ")
        elif cmd is not None:
            out.append((prefix + name, cmd))
    return out


COMMANDS = _commands(main, click.Context(main))


def test_every_short_option_has_one_meaning() -> None:
    meaning: dict[str, set[str]] = {}
    for _, cmd in COMMANDS:
        for p in cmd.params:
            for opt in getattr(p, "opts", []):
                if len(opt) == 2 and opt.startswith("-") and opt != "-h":
                    meaning.setdefault(opt, set()).add(next(o for o in p.opts if o.startswith("--")))
    # kubectl's convention, kept on purpose: `logs -f` follows, elsewhere -f names a file
    meaning["-f"] -= {"--follow"}
    clashes = {k: v for k, v in meaning.items() if len(v) > 1}
    assert not clashes, clashes


def test_every_option_has_help_or_is_self_explanatory() -> None:
    missing = [f"{name} {p.opts[-1]}" for name, cmd in COMMANDS for p in cmd.params
               if isinstance(p, click.Option) and not p.help and p.name == "min_replicas"]
    assert not missing, missing


def test_limit_zero_means_all_everywhere(cli) -> None:
    assert cli("jobs list --limit 0").code == 0
    assert cli("cost compare --accelerator A100:8 --hours 1 --limit 0").code == 0


@pytest.mark.parametrize("alias", ["aws", "gcp", "azure"])
def test_cloud_aliases_work_for_every_provider_option(cli, alias: str) -> None:
    run = cli(f"jobs list -p {alias}")
    assert "unknown provider" not in run.stderr, run.stderr


def test_cost_plot_format_json_describes_the_file(cli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run = cli(f"--json cost plot --workload-tflop 2e6 --out {tmp_path / 'p.png'}")
    assert run.code == 0, run.stderr
    assert run.json["out"].endswith("p.png") and run.json["offers"] > 0


def test_job_documents_share_one_vocabulary(cli, tmp_path: Path) -> None:
    """`train --json` (the summary) and `jobs describe --format json` name the same facts the same way."""
    from tests.cli.helpers import regression_job

    job_yaml = regression_job(tmp_path)
    run = cli(f"--json train {job_yaml} -p local --set hyperparameters.epochs=1")
    assert run.code == 0, run.stderr
    summary = run.json
    described = cli(f"jobs describe {summary['name']} --format json").json
    for key in ("name", "state", "provider", "instance_type", "instance_count", "billable_seconds", "model_uri",
                "cost_usd", "duration_s", "reason", "exit_code"):
        assert key in summary and key in described, key
    assert summary["name"] == described["name"] and summary["billable_seconds"] == described["billable_seconds"]
