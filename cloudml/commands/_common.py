"""Shared pieces of the CLI commands: global flags, provider resolution, table/JSON/CSV output, formatting.

Invariants:
- a command finds a provider the way ``Estimator`` does: ``--provider``, else the configured default, else
  ``local``; its options are ``-C KEY=VALUE`` over ``cloudml.config.provider_options`` (file + environment);
- every mapping printed goes through ``mask_mapping`` (hyperparameters, environment, extra facts);
- ``--json`` output is one JSON document on stdout (native types, no rounding); tables and progress go to a
  terminal only when asked for; rich is imported only to draw.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from cloudml.errors import ValidationError
from cloudml.runtime.secrets import MASK, is_secret_key, mask_mapping

FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
                      show_default=True, help="Output format (--json on the group sets json).")


@dataclasses.dataclass(frozen=True)
class Output:
    """How to print: the group's --quiet / --json / --debug and whether stdout is a terminal."""

    quiet: bool = False
    json: bool = False
    debug: bool = False

    @property
    def tty(self) -> bool:
        return sys.stdout.isatty()

    @property
    def live(self) -> bool:
        """Progress bars and the status line: on a terminal, unless --quiet or --json."""
        return self.tty and not self.quiet and not self.json

    @property
    def chatty(self) -> bool:
        """Log lines, notes and summaries: unless --quiet or --json."""
        return not self.quiet and not self.json


def stdout() -> Any:
    """Where results go: the real stdout. Under ``--json``/``--quiet`` the group points ``sys.stdout`` at stderr
    while a command runs, so stray prints from SDKs (progress dots ...) cannot corrupt the result."""
    ctx = click.get_current_context(silent=True)
    obj = (ctx.find_root().obj or {}) if ctx is not None else {}
    return obj.get("stdout") or sys.stdout


def echo(text: Any = "", nl: bool = True) -> None:
    click.echo(text, file=stdout(), nl=nl)


def output(ctx: click.Context) -> Output:
    obj = ctx.find_root().obj or {}
    return Output(quiet=bool(obj.get("quiet")), json=bool(obj.get("json")), debug=bool(obj.get("debug")))


#: the cloud names the cost commands take (``catalog refresh -p aws``), accepted by every ``--provider`` too
PROVIDER_ALIASES = {"aws": "sagemaker", "gcp": "vertex", "google": "vertex", "azure": "azureml"}


def canonical_provider(ctx: click.Context | None, param: Any, value: str | None) -> str | None:
    """A click callback: ``aws`` -> ``sagemaker``, ``gcp``/``google`` -> ``vertex``, ``azure`` -> ``azureml``."""
    return PROVIDER_ALIASES.get(value.lower(), value) if isinstance(value, str) else value


def provider_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--provider/-p NAME`` and ``-C/--option KEY=VALUE`` (repeatable)."""
    fn = click.option("--option", "-C", "options", multiple=True, metavar="KEY=VALUE",
                      help="Provider option over the config file, e.g. -C bucket=my-bucket (repeatable).")(fn)
    return click.option("--provider", "-p", default=None, callback=canonical_provider,
                        help="local|sagemaker|vertex|azureml, or aws|gcp|azure (default: config [defaults] "
                             "provider, else local).")(fn)


def parse_pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(what, f"{item!r} is not KEY=VALUE", f"e.g. {what} region=us-east-1")
        out[key.strip()] = value
    return out


def resolve_provider(name: str | None, options: Sequence[str] = ()) -> Any:
    """The provider instance a command acts on (no network call)."""
    from cloudml import config, providers

    name = name or config.default_provider()
    return providers.get(name, **{**config.provider_options(name), **parse_pairs(options, "-C")})


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


_PAIR_NAMES = ("key", "name")


def masked(value: Any) -> Any:
    """``value`` (jsonable) with secret-looking values masked at every depth: values under secret-looking keys,
    and name/value pairs (``{"Key": "db_password", "Value": ...}``, ``{"name": ..., "value": ...}``) whose name
    looks secret. A field literally called ``key`` or ``name`` is a label, not a secret."""
    if isinstance(value, Mapping):
        lowered = {str(k).lower(): k for k in value}
        pair = next((lowered[n] for n in _PAIR_NAMES if n in lowered), None)
        out = {}
        for k, v in value.items():
            if str(k).lower() in _PAIR_NAMES:
                out[k] = masked(v)
            elif str(k).lower() == "value" and pair is not None and is_secret_key(str(value[pair])):
                out[k] = MASK
            else:
                out[k] = MASK if is_secret_key(str(k)) else masked(v)
        return out
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def echo_json(value: Any) -> None:
    echo(json.dumps(masked(jsonable(value)), indent=2))


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else stdout()
    return Console(file=stream, soft_wrap=True, highlight=False, width=None if stream.isatty() else 160)


def emit_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], fmt: str, title: str,
              empty: str) -> None:
    """Rows as a rich table, JSON list or CSV; ``columns`` are (key, heading) for the table and CSV."""
    if fmt == "json":
        echo_json(list(rows))
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[k for k, _ in columns], extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k, _ in columns})
        echo(buf.getvalue(), nl=False)
        return
    if not rows:
        echo(empty)
        return
    # plain text like the cost commands (cloudml.cost.table): every cell whole, at any terminal width, so a
    # job or endpoint name can be copied from it (issue 17)
    from cloudml.cost.table import render

    cells = [[display(row.get(k)) for k, _ in columns] for row in rows]
    right = {k for k, _ in columns if all(isinstance(row.get(k), (int, float)) for row in rows if row.get(k) is not None)}
    echo(render(title, [(heading, "right" if k in right else "left") for k, heading in columns], cells))


def emit_record(record: Mapping[str, Any], fmt: str) -> None:
    """One object: ``key  value`` lines, JSON, or a one-row CSV."""
    if fmt == "json":
        echo_json(record)
        return
    flat = {k: v for k, v in masked(jsonable(record)).items()}
    if fmt == "csv":
        emit_rows([flat], [(k, k) for k in flat], "csv", "", "")
        return
    width = max(len(k) for k in flat) if flat else 0
    for key, value in flat.items():
        if value in (None, {}, []):
            continue
        if key.endswith("_at") and isinstance(value, (int, float)):
            text = timestamp(value) or "-"
        elif key.endswith(("_s", "_seconds")) and isinstance(value, (int, float)):
            text = duration(value)
        else:
            text = json.dumps(value) if isinstance(value, (dict, list)) else display(value)
        echo(f"{key.ljust(width)}  {text}")


def display(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def timestamp(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def job_record(info: Any) -> dict[str, Any]:
    """A JobInfo as a flat, printable dict (secrets masked)."""
    record = jsonable(info)
    record["created"] = timestamp(info.created_at)
    record["duration_s"] = ((info.ended_at or time.time()) - info.started_at) if info.started_at else None
    record["hyperparameters"] = mask_mapping(record.get("hyperparameters"))
    record["extra"] = masked(record.get("extra") or {})
    return record


def endpoint_record(info: Any) -> dict[str, Any]:
    record = jsonable(info)
    record["created"] = timestamp(info.created_at)
    record["extra"] = masked(record.get("extra") or {})
    return record
