"""``cloudml config show|set|unset|path``: the settings file (``cloudml.config``) from the command line.

Invariant: ``show`` never prints a secret-looking value (``mask_mapping``), and says where each value comes from
(the file or the environment variable that overrides it).
"""

from __future__ import annotations

import json
import re

import click

from cloudml.commands._common import FORMAT, echo, echo_json, emit_rows, output
from cloudml.errors import ValidationError
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

    _check_provider_key(key, value)
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


def _check_provider_key(key: str, value: str) -> None:
    """Refuse a key (or value) the provider would refuse later, when a job runs: its constructor checks its
    options and needs no network; a provider taking ``**options`` is held to its named parameters."""
    import difflib
    import inspect

    from cloudml import config as cfg
    from cloudml import providers
    from cloudml.errors import MissingDependencyError

    section, _, option = key.partition(".")
    if section == cfg.DEFAULTS or not option or section not in providers.available():
        return  # cloudml.config.set_value refuses these with its own suggestions
    try:
        cls = type(providers.get(section, **{option: value}))
    except MissingDependencyError:
        return
    except ValidationError as exc:
        known = re.findall(r"[a-z_]+", (exc.fix or "").partition(":")[2])
        close = difflib.get_close_matches(option, known, n=1)
        hint = f"did you mean {section}.{close[0]}? " if close else ""
        raise ValidationError(key, exc.problem, hint + (exc.fix or "")) from None
    named = [n for n, p in inspect.signature(cls.__init__).parameters.items()
             if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if named and option not in named:
        close = difflib.get_close_matches(option, named, n=1)
        raise ValidationError(key, f"unknown key {option!r} in [{section}]",
                              (f"did you mean {section}.{close[0]}? " if close else "") + "keys: " + ", ".join(named))
