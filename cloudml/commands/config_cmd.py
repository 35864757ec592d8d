"""``cloudml config show|set|unset|path``: the settings file (``cloudml.config``) from the command line.

Invariant: ``show`` never prints a secret-looking value (``mask_mapping``), and says where each value comes from
(the file or the environment variable that overrides it).
"""

from __future__ import annotations

import json

import click

from cloudml.commands._common import FORMAT, echo, echo_json, emit_rows, output
from cloudml.runtime.secrets import MASK, is_secret_key


@click.group()
def config() -> None:
    """Show or change settings: [defaults] and a section per provider (bucket, role_arn, project ...)."""


@config.command()
@FORMAT
def show(fmt: str) -> None:
    """Every setting in force, where it comes from, secrets masked."""
    from cloudml import config as cfg

    settings = cfg.effective()
    rows = [{"section": section, "key": key, "value": MASK if is_secret_key(key) else value, "source": source}
            for section, values in sorted(settings.items()) for key, (value, source) in sorted(values.items())]
    if fmt == "json":  # values are masked above (echo_json would also mask the column named "key")
        echo(json.dumps({"path": str(cfg.config_path()), "settings": rows}, indent=2))
        return
    emit_rows(rows, [("section", "section"), ("key", "key"), ("value", "value"), ("source", "source")], fmt,
              f"Settings ({cfg.config_path()})", f"no settings yet ({cfg.config_path()}); e.g. "
              "cloudml config set sagemaker.bucket my-bucket")


@config.command("set")
@click.argument("key", metavar="SECTION.KEY")
@click.argument("value")
@click.pass_context
def set_(ctx: click.Context, key: str, value: str) -> None:
    """Set SECTION.KEY, e.g. `cloudml config set sagemaker.bucket my-bucket` or `defaults.provider vertex`."""
    from cloudml import config as cfg

    path = cfg.set_value(key, value)
    out = output(ctx)
    if out.json:
        echo_json({"key": key, "path": str(path)})
    elif out.chatty:
        echo(f"set {key} = {MASK if is_secret_key(key.partition('.')[2]) else value} in {path}")


@config.command()
@click.argument("key", metavar="SECTION.KEY")
@click.pass_context
def unset(ctx: click.Context, key: str) -> None:
    """Remove SECTION.KEY from the file."""
    from cloudml import config as cfg

    removed = cfg.unset_value(key)
    out = output(ctx)
    if out.json:
        echo_json({"key": key, "removed": removed})
    elif out.chatty:
        echo(f"removed {key}" if removed else f"{key} was not set")


@config.command()
def path() -> None:
    """Print the settings file's path."""
    from cloudml import config as cfg

    echo(str(cfg.config_path()))
