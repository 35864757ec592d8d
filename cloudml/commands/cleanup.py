"""``cloudml cleanup``: find and delete the endpoints, endpoint configs and models cloudml created.

    cloudml cleanup                          # every cloudml-created resource on local + each configured provider
    cloudml cleanup -p sagemaker --older-than 1d --dry-run

Invariants:
- only resources carrying cloudml's ``cloudml-created`` tag/label are listed (``Provider.list_cloudml_resources``);
  a resource cloudml did not create is never touched;
- a resource is a candidate when ``--older-than`` is not given, when it is at least that old (by ``cloudml-created``),
  or when its ``cloudml-expires`` time (an endpoint's ``ttl_seconds``) has passed: expired ones go even when young;
- ``--dry-run`` lists the candidates and deletes nothing; otherwise each is deleted (endpoints first, with what
  they own) and the table says what was done. Exit code 0, or 1 if a delete failed (the others still run);
  without ``--provider``, a provider that cannot be listed (no credentials ...) is a failed row, not an abort.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import click

from cloudml.commands._common import (
    FORMAT,
    canonical_provider,
    echo,
    emit_rows,
    output,
    parse_pairs,
    timestamp,
)
from cloudml.errors import CloudMLError, ValidationError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str | None) -> float | None:
    """``"1d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"`` -> seconds; ``None`` -> ``None``."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,6})\s*([smhdw])\s*", str(text))
    if not match:
        raise ValidationError("--older-than", f"{text!r} is not a duration", "e.g. 90s, 30m, 12h, 1d, 2w")
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def candidates(resources: Sequence[Any], now: float, older_than: float | None) -> list[tuple[Any, str]]:
    """The resources to delete, each with why (pure: no provider call)."""
    out = []
    for r in resources:
        if r.expires_at is not None and r.expires_at <= now:
            out.append((r, "expired"))
        elif older_than is None:
            out.append((r, "cloudml-created"))
        elif r.created_at is not None and now - r.created_at >= older_than:
            out.append((r, f"older than {older_than:.0f}s"))
    order = {"endpoint": 0, "endpoint-config": 1, "model": 2}
    return sorted(out, key=lambda pair: order.get(pair[0].kind, 3))


def run(provider_list: Sequence[Any], older_than: float | None, dry_run: bool,
        now: float | None = None) -> list[dict[str, Any]]:
    """Clean up on each provider; one row per candidate with what was done (``failed: ...`` when a delete fails)."""
    now = time.time() if now is None else now
    rows = []
    for p in provider_list:
        for resource, why in candidates(p.list_cloudml_resources(), now, older_than):
            action = "would delete" if dry_run else "deleted"
            if not dry_run:
                try:
                    p.delete_resource(resource)
                except (CloudMLError, NotImplementedError) as exc:
                    action = f"failed: {exc}"
            rows.append({"provider": resource.provider, "kind": resource.kind, "name": resource.name,
                         "created": timestamp(resource.created_at), "expires": timestamp(resource.expires_at),
                         "why": why, "action": action})
    return rows


def _providers(name: str | None, options: Sequence[str]) -> list[Any]:
    from cloudml import config, providers

    if name:
        return [providers.get(name, **{**config.provider_options(name), **parse_pairs(options, "-C")})]
    if options:
        raise ValidationError("-C", "provider options need one --provider", "add --provider NAME")
    names = ["local", *[n for n in providers.available() if n != "local" and config.provider_options(n)]]
    return [providers.get(n, **config.provider_options(n)) for n in names]


@click.command()
@click.option("--provider", "-p", default=None, callback=canonical_provider,
              help="local|sagemaker|vertex|azureml or aws|gcp|azure (default: local and every provider with a "
                   "config section).")
@click.option("--option", "-C", "options", multiple=True, metavar="KEY=VALUE",
              help="Provider option over the config file (with --provider; repeatable).")
@click.option("--older-than", "older_than", default=None, metavar="AGE",
              help="Only resources at least this old (90s, 30m, 12h, 1d, 2w); expired ones always go.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@FORMAT
@click.pass_context
def cleanup(ctx: click.Context, provider: str | None, options: tuple[str, ...], older_than: str | None,
            dry_run: bool, fmt: str) -> None:
    """Delete endpoints, endpoint configs and models cloudml created (by their cloudml-created tag)."""
    age = parse_age(older_than)
    out = output(ctx)
    rows = []
    for prov in _providers(provider, options):
        try:
            rows += run([prov], age, dry_run)
        except CloudMLError as exc:
            if provider:  # the one provider asked for: its error (a missing setting exits 2)
                raise
            # one provider without credentials or settings does not hide what the others have (issue 17)
            rows.append({"provider": prov.name, "kind": "-", "name": "-", "created": None, "expires": None,
                         "why": "-", "action": f"failed: cannot list: {exc}"})
    failed = sum(1 for r in rows if r["action"].startswith("failed"))
    fmt = "json" if out.json else fmt
    emit_rows(rows, [("provider", "Provider"), ("kind", "Kind"), ("name", "Name"), ("created", "Created"),
                     ("expires", "Expires"), ("why", "Why"), ("action", "Action")], fmt,
              "cloudml cleanup" + (" (dry run)" if dry_run else ""), "nothing to clean up")
    if failed:
        if out.chatty:
            echo(f"{failed} delete(s) failed")
        ctx.exit(1)
