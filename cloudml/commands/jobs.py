"""``cloudml jobs list|describe|logs|wait|stop|outputs``: training jobs on any provider, through the neutral verbs.

Invariants: every subcommand takes ``--provider``/``-C`` like ``train``; reading commands never change a job;
``wait`` exits 0 only when the job completed (1 failed or stopped); ``stop`` returns at once unless ``--wait``.
"""

from __future__ import annotations

import click

from cloudml.commands._common import (
    FORMAT,
    duration,
    echo,
    echo_json,
    emit_record,
    emit_rows,
    job_record,
    output,
    provider_options,
    resolve_provider,
    usd,
)
from cloudml.commands._watch import _Price, cost_so_far, follow, report
from cloudml.jobs import Job
from cloudml.runtime.secrets import Masker


@click.group()
def jobs() -> None:
    """List, describe, follow, wait for and stop training jobs."""


@jobs.command("list")
@provider_options
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Jobs to show, newest first; 0 = all (as in the cost commands).")
@FORMAT
def list_jobs(provider: str | None, options: tuple[str, ...], limit: int, fmt: str) -> None:
    """Recent jobs, newest first."""
    prov = resolve_provider(provider, options)
    price = _Price(prov.name)
    rows = []
    for info in prov.list_jobs(limit=limit or 1_000_000):
        row = job_record(info)
        row["cost_usd"] = cost_so_far(info, price.hourly(info))
        row["duration"] = duration(row["duration_s"])
        row["cost"] = usd(row["cost_usd"])
        rows.append(row)
    emit_rows(rows, [("name", "name"), ("state", "state"), ("created", "created"), ("duration", "duration"),
                     ("instance_type", "instance"), ("instance_count", "count"), ("cost", "cost"),
                     ("model_uri", "model")], fmt, f"Jobs on {prov.name}", f"no jobs on {prov.name}")


@jobs.command()
@click.argument("name")
@provider_options
@FORMAT
def describe(name: str, provider: str | None, options: tuple[str, ...], fmt: str) -> None:
    """Everything the provider reports about job NAME (secrets masked)."""
    prov = resolve_provider(provider, options)
    info = prov.describe_job(prov.check_name("job", name))
    record = job_record(info)
    record.pop("created")
    record["cost_usd"] = cost_so_far(info, _Price(prov.name).hourly(info))
    emit_record(record, fmt)


@jobs.command()
@click.argument("name")
@provider_options
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
def logs(name: str, provider: str | None, options: tuple[str, ...], follow: bool) -> None:
    """Print job NAME's log lines (secret values masked)."""
    prov = resolve_provider(provider, options)
    info = prov.describe_job(prov.check_name("job", name))  # NotFoundError before anything is printed
    poll = getattr(prov, "poll_interval", (1.0, 30.0))[0]
    masker = Masker(info.extra.get("environment"), info.hyperparameters, inherit=True)
    for line in Job(prov, name).logs(follow=follow, poll=max(poll, 0.2)):
        echo(masker(line))


@jobs.command()
@click.argument("name")
@provider_options
@click.option("--logs/--no-logs", "show_logs", default=True, show_default=True, help="Stream the log lines.")
@click.pass_context
def wait(ctx: click.Context, name: str, provider: str | None, options: tuple[str, ...], show_logs: bool) -> None:
    """Wait for job NAME to end; exit 0 if it completed, 1 if it failed or was stopped."""
    out = output(ctx)
    prov = resolve_provider(provider, options)
    prov.describe_job(prov.check_name("job", name))  # NotFoundError before anything is printed
    result = follow(prov, name, out, logs=show_logs)
    report(out, result)


@jobs.command()
@click.argument("name")
@provider_options
@click.option("--wait", "wait_", is_flag=True, help="Wait until the job has stopped.")
@click.pass_context
def stop(ctx: click.Context, name: str, provider: str | None, options: tuple[str, ...], wait_: bool) -> None:
    """Ask job NAME to stop (a finished job is left as it is)."""
    from cloudml.errors import JobFailedError

    out = output(ctx)
    prov = resolve_provider(provider, options)
    before = prov.describe_job(prov.check_name("job", name))
    if before.state.terminal:
        state = before.state
        message = f"{name} already ended: {state.value}" + (f" ({before.reason})" if before.reason else "")
    else:
        prov.stop_job(name)
        state = prov.describe_job(name).state
        if wait_:
            try:
                state = Job(prov, name).wait(logs=False).state
            except JobFailedError:  # stopped (or failed while stopping): both are the end we asked for
                state = prov.describe_job(name).state
        message = f"stop requested for {name}: {state.value}"
    if out.json:
        echo_json({"name": name, "job": name, "state": state})
    elif out.quiet:
        echo(state.value)
    else:
        echo(message)


@jobs.command()
@click.argument("name")
@click.argument("dest", type=click.Path(file_okay=False))
@provider_options
@click.pass_context
def outputs(ctx: click.Context, name: str, dest: str, provider: str | None, options: tuple[str, ...]) -> None:
    """Download job NAME's outputs into folder DEST: outputs/ and logs/ (the script's ./outputs and ./logs) and
    what it wrote to its output data dir."""
    from pathlib import Path

    out = output(ctx)
    prov = resolve_provider(provider, options)
    folder = prov.download_outputs(name, dest)
    files = sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())
    if out.json:
        echo_json({"job": name, "dest": folder, "files": files})
    elif out.quiet:
        echo(folder)
    else:
        echo(f"{len(files)} file(s) of {name} in {folder}")
        for f in files:
            echo(f"  {f}")
