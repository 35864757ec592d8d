"""The ``cloudml`` command line: a thin click group whose subcommands are imported only when invoked.

Invariants:
- ``cloudml --help`` and ``cloudml cost ...`` import no cloud SDK, torch or TensorFlow; each subcommand lives in
  its own module, named in ``_COMMANDS`` as ``"module:attr"``;
- exit codes: 0 ok, 1 operation failed, 2 bad input (message names the value), 3 nothing feasible, 130 Ctrl-C,
  141 the reader of stdout went away (``| head``);
  a ``CloudMLError`` escaping a command is printed as one ``Error: ...`` line (no traceback unless ``--debug``);
- global options live in ``ctx.obj``: ``quiet`` (only results), ``json`` (one JSON document on stdout, no progress;
  also makes every ``--format`` option default to json), ``debug`` (tracebacks, debug logging); under ``--quiet``
  or ``--json`` the ``cloudml.commands`` subcommands write results to the real stdout (``ctx.obj["stdout"]``) while
  ``sys.stdout`` points at stderr, so stray prints from SDKs never corrupt a result.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

_COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:attr", one-line help shown by --help without importing the module)
    "catalog": ("cloudml.cost.cli:catalog", "Show, validate or refresh the price catalog."),
    "cleanup": ("cloudml.commands.cleanup:cleanup", "Delete endpoints, configs and models cloudml created."),
    "config": ("cloudml.commands.config_cmd:config", "Show or change settings (a section per provider)."),
    "cost": ("cloudml.cost.cli:cost", "Compare offers and plan the cheapest way to finish a job."),
    "deploy": ("cloudml.commands.endpoints:deploy", "Serve a trained job's model behind an endpoint."),
    "doctor": ("cloudml.commands.doctor:doctor", "Check extras, SDK versions, credentials and configuration."),
    "endpoints": ("cloudml.commands.endpoints:endpoints", "List, describe, call and delete endpoints."),
    "init": ("cloudml.commands.init:init", "Scaffold a training project (train.py, job.yaml, data/, inference.py)."),
    "instances": ("cloudml.cost.cli:instances", "List instance types from the catalog."),
    "jobs": ("cloudml.commands.jobs:jobs", "List, describe, follow, wait for and stop training jobs."),
    "train": ("cloudml.commands.train:train", "Train from a job YAML (--dry-run shows the request, sends nothing)."),
}


def _json_defaults(ctx: click.Context, cmd: click.Command | None) -> dict[str, Any]:
    """A default_map making every ``fmt`` (``--format``) option under ``cmd`` default to json."""
    if isinstance(cmd, click.Group):
        return {name: _json_defaults(ctx, cmd.get_command(ctx, name)) for name in cmd.list_commands(ctx)}
    return {"fmt": "json"} if cmd is not None and any(p.name == "fmt" for p in cmd.params) else {}


#: the exit codes of every command (README "Exit codes" shows the same table; a test compares them)
EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "the operation failed: a job that failed or was stopped, a provider or credentials error",
    2: "bad input: a YAML typo, a missing file or setting, an unknown provider, job or endpoint name, a refused "
       "bundle (secrets); the message names the value and the fix",
    3: "nothing feasible: no catalog offer meets the request (the closest offers are shown)",
    130: "interrupted (Ctrl-C); a running job keeps running",
    141: "the reader of the output went away (`| head`)",
}


def _exit_code(exc: Exception) -> int:
    from cloudml.errors import (
        BundleError,
        ConfigurationError,
        NoFeasibleOfferError,
        NotFoundError,
        ValidationError,
    )

    if isinstance(exc, (ValidationError, ConfigurationError, NotFoundError, BundleError)):
        return 2
    if isinstance(exc, NoFeasibleOfferError):
        return 3
    return 1


def _json_error(ctx: click.Context, exc: Exception) -> None:
    """Under ``--json`` an error is a JSON document on stdout too: ``{"error": {"type", "message", "exit_code"}}``."""
    import json
    import sys

    obj = ctx.obj or {}
    doc = {"error": {"type": type(exc).__name__, "message": str(exc), "exit_code": _exit_code(exc)}}
    field = getattr(exc, "field", None)
    if field:
        doc["error"]["field"] = field
    click.echo(json.dumps(doc, indent=2), file=obj.get("stdout") or sys.stdout)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _COMMANDS:
            module_name, _, attr = _COMMANDS[name][0].partition(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn a ``CloudMLError`` into ``Error: ...`` and its exit code (traceback with --debug)."""
        from cloudml.errors import CloudMLError, JobFailedError, JobStoppedError, NoFeasibleOfferError

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `cloudml jobs logs J | head`: the reader has gone; stop quietly like cat does
            import os
            import sys

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
            ctx.exit(141)
        except CloudMLError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            if isinstance(exc, JobStoppedError):  # its message says "failed"; say what happened
                click.echo(f"Error: job {exc.job_name} was stopped ({exc.reason})", err=True)
            else:
                click.echo(f"Error: {exc}", err=True)
            if (ctx.obj or {}).get("json") and not isinstance(exc, JobFailedError):  # a failed job printed its own
                _json_error(ctx, exc)
            if isinstance(exc, NoFeasibleOfferError) and exc.closest:
                click.echo("Closest offers and what they break:", err=True)
                for p in exc.closest:
                    click.echo(f"  {p.offer.label}: " + "; ".join(p.violations), err=True)  # type: ignore[attr-defined]
            ctx.exit(_exit_code(exc))
        except Exception as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
            if (ctx.obj or {}).get("json"):
                _json_error(ctx, exc)
            ctx.exit(1)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in sorted(_COMMANDS)]
        for name in super().list_commands(ctx):
            cmd = super().get_command(ctx, name)
            if cmd is not None and name not in _COMMANDS:
                rows.append((name, cmd.get_short_help_str()))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloudml", message="cloudml %(version)s")
@click.option("--quiet", "-q", is_flag=True, help="Print results only: no logs, progress or summaries.")
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document per command; no progress.")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def main(ctx: click.Context, quiet: bool, json_output: bool, debug: bool) -> None:
    """cloudml: train and serve one script on SageMaker, Vertex AI, Azure ML or locally."""
    ctx.ensure_object(dict)
    ctx.obj.update(quiet=quiet, json=json_output, debug=debug)
    target = _COMMANDS.get(ctx.invoked_subcommand or "", ("",))[0]
    if (quiet or json_output) and target.startswith("cloudml.commands."):
        # results only on stdout (cloudml.commands._common.echo): anything else printed while the command runs
        # (an SDK's progress dots ...) goes to stderr, so --json output stays one parseable document
        import contextlib
        import sys

        ctx.obj["stdout"] = sys.stdout
        ctx.with_resource(contextlib.redirect_stdout(sys.stderr))
    if not debug:
        import logging

        # azure-identity logs every credential it tried at WARNING (~14 lines through logging's last-resort
        # handler) before cloudml's one-line error says the same; --debug shows them (issue 17)
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        # the SDKs log whole request bodies (hyperparameters, environment) at DEBUG: keep them at INFO so
        # --debug never prints a secret value (issue 10)
        for sdk in ("botocore", "boto3", "s3transfer", "urllib3", "azure", "google", "msal"):
            logging.getLogger(sdk).setLevel(logging.INFO)
    if json_output and ctx.invoked_subcommand:
        ctx.default_map = {ctx.invoked_subcommand: _json_defaults(ctx, main.get_command(ctx, ctx.invoked_subcommand))}


if __name__ == "__main__":  # pragma: no cover
    main()
