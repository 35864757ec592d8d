"""The ``cloudml`` command line: a thin click group whose subcommands are imported only when invoked.

Invariant: ``cloudml --help`` and ``cloudml cost ...`` import no cloud SDK, torch or TensorFlow; each
subcommand lives in its own module, named in ``_COMMANDS`` as ``"module:attr"``.
Exit codes: 0 ok, 1 operation failed, 2 bad input (message names the value), 3 nothing feasible.
"""

from __future__ import annotations

import importlib

import click

_COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:attr", one-line help shown by --help without importing the module)
    "catalog": ("cloudml.cost.cli:catalog", "Show, validate or refresh the price catalog."),
    "cost": ("cloudml.cost.cli:cost", "Compare offers and plan the cheapest way to finish a job."),
    "instances": ("cloudml.cost.cli:instances", "List instance types from the catalog."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _COMMANDS:
            module_name, _, attr = _COMMANDS[name][0].partition(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

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
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """cloudml: train and serve one script on SageMaker, Vertex AI, Azure ML or locally."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


if __name__ == "__main__":  # pragma: no cover
    main()
