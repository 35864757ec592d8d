"""``cloudml deploy JOB`` and ``cloudml endpoints list|describe|predict|delete`` on any provider.

Invariants:
- ``deploy`` rebuilds the estimator with ``Estimator.attach`` (so it serves exactly what ``Estimator.deploy``
  would: the job's model with ``inference.py`` from its source) and blocks until the endpoint is in service; a
  job YAML given with ``--file`` supplies defaults from its ``deploy:`` section, flags win;
- ``predict`` sends one request (JSON by default) and prints the answer as received (JSON pretty-printed);
  an endpoint error exits 1 with the HTTP status;
- ``delete`` removes the endpoint and what cloudml created for it, and is safe to repeat (exit 0): a name with
  no endpoint is reported as such (``not_found`` in JSON), never as deleted.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cloudml.commands._common import (
    FORMAT,
    echo,
    echo_json,
    emit_record,
    emit_rows,
    endpoint_record,
    output,
    parse_pairs,
    provider_options,
    resolve_provider,
    stdout,
)
from cloudml.errors import ValidationError


@click.command()
@click.argument("job_name", metavar="JOB")
@provider_options
@click.option("--file", "-f", "job_file", help="Job YAML whose deploy: section gives defaults (flags win).")
@click.option("--instance-type", help="Serving instance type (default: the provider's).")
@click.option("--accelerator", help="NAME[:COUNT] for the serving instance.")
@click.option("--min-replicas", type=click.IntRange(min=1), help="Instances always running (default 1).")
@click.option("--max-replicas", type=click.IntRange(min=1), help="Autoscale up to this many (where supported).")
@click.option("--endpoint-name", "--name", "endpoint_name", help="Name of the endpoint (default: from the job).")
@click.option("--ttl", "ttl_seconds", type=click.IntRange(min=1), help="Delete the endpoint after this many seconds.")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Environment for the server (repeatable).")
@click.pass_context
def deploy(ctx: click.Context, job_name: str, provider: str | None, options: tuple[str, ...], job_file: str | None,
           instance_type: str | None, accelerator: str | None, min_replicas: int | None, max_replicas: int | None,
           endpoint_name: str | None, ttl_seconds: int | None, env: tuple[str, ...]) -> None:
    """Serve the model trained by job JOB; prints the endpoint's name and URL."""
    from cloudml import config
    from cloudml.estimators import Estimator

    out = output(ctx)
    kwargs: dict[str, Any] = {}
    if job_file:
        from cloudml import jobspec

        spec_file = jobspec.load(job_file)
        kwargs.update(spec_file.deploy)
        provider = provider or spec_file.values.get("provider")
    flags = {"instance_type": instance_type, "accelerator": accelerator, "min_replicas": min_replicas,
             "max_replicas": max_replicas, "endpoint_name": endpoint_name, "ttl_seconds": ttl_seconds}
    kwargs.update({k: v for k, v in flags.items() if v is not None})
    if env:
        kwargs["environment"] = {**dict(kwargs.get("environment") or {}), **parse_pairs(env, "--env")}
    name = provider or config.default_provider()
    est = Estimator.attach(job_name, provider=name, provider_options=parse_pairs(options, "-C"))
    if out.chatty:
        echo(f"deploying the model of {job_name} on {name} (waits until it is in service)")
    endpoint = est.deploy(**kwargs)
    info = endpoint.describe()
    if out.json:
        echo_json(endpoint_record(info))
    elif out.quiet:
        echo(info.name)
    else:
        echo(f"endpoint {info.name} {info.state.value}" + (f" at {info.url}" if info.url else ""))
        echo(f"  predict: cloudml endpoints predict {info.name} -p {name} '{{\"instances\": [[...]]}}'\n"
                   f"  delete:  cloudml endpoints delete {info.name} -p {name}")


@click.group()
def endpoints() -> None:
    """List, describe, call and delete endpoints."""


@endpoints.command("list")
@provider_options
@FORMAT
def list_endpoints(provider: str | None, options: tuple[str, ...], fmt: str) -> None:
    """Endpoints on the provider."""
    prov = resolve_provider(provider, options)
    rows = [endpoint_record(info) for info in prov.list_endpoints()]
    emit_rows(rows, [("name", "name"), ("state", "state"), ("created", "created"), ("instance_type", "instance"),
                     ("min_replicas", "min"), ("max_replicas", "max"), ("url", "url"), ("model_uri", "model")],
              fmt, f"Endpoints on {prov.name}", f"no endpoints on {prov.name}")


@endpoints.command()
@click.argument("name")
@provider_options
@FORMAT
def describe(name: str, provider: str | None, options: tuple[str, ...], fmt: str) -> None:
    """Everything the provider reports about endpoint NAME."""
    prov = resolve_provider(provider, options)
    record = endpoint_record(prov.describe_endpoint(prov.check_name("endpoint", name)))
    record.pop("created")
    emit_record(record, fmt)


@endpoints.command()
@click.argument("name")
@click.argument("data", required=False)
@provider_options
@click.option("--file", "-f", "data_file", type=click.File("rb"), help="Read the request body from a file ('-': stdin).")
@click.option("--content-type", default="application/json", show_default=True)
@click.option("--accept", default="application/json", show_default=True)
def predict(name: str, data: str | None, provider: str | None, options: tuple[str, ...], data_file: Any,
            content_type: str, accept: str) -> None:
    """Send DATA (or --file) to endpoint NAME and print the answer.

    \b
      cloudml endpoints predict my-endpoint '{"instances": [[0.5, 1.0]]}'
      cloudml endpoints predict my-endpoint -f batch.npy --content-type application/x-npy
    """
    if (data is None) == (data_file is None):
        raise ValidationError("data", "give the request body as DATA or with --file (not both)",
                              "e.g. '{\"instances\": [[1.0, 2.0]]}' or --file request.json")
    body = data.encode() if data is not None else data_file.read()
    if content_type == "application/json":
        try:
            json.loads(body or b"null")
        except ValueError as exc:
            raise ValidationError("data", f"not valid JSON: {exc}", "quote it for the shell: '{\"instances\": [[1, 2]]}'") from None
    prov = resolve_provider(provider, options)
    answer = prov.invoke(prov.check_name("endpoint", name), body, content_type, accept)
    if accept == "application/json":
        try:
            echo(json.dumps(json.loads(answer), indent=2))
            return
        except ValueError:
            pass
    if sys.stdout.isatty() and accept not in ("application/json", "text/csv", "text/plain"):
        echo(f"({len(answer)} bytes of {accept}; redirect to a file to keep them)")
        return
    getattr(stdout(), "buffer", stdout()).write(answer)


@endpoints.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@provider_options
@click.pass_context
def delete(ctx: click.Context, names: tuple[str, ...], provider: str | None, options: tuple[str, ...]) -> None:
    """Delete endpoints and what cloudml created for them (model, config); safe to repeat."""
    from cloudml.errors import NotFoundError

    out = output(ctx)
    prov = resolve_provider(provider, options)
    for name in names:  # every name checked before any is deleted
        prov.check_name("endpoint", name)
    deleted, not_found = [], []
    for name in names:
        try:
            prov.describe_endpoint(name)
        except NotFoundError:
            not_found.append(name)
        prov.delete_endpoint(name)  # also when not found: removes a failed deploy's leftovers, if any
        if name not in not_found:
            deleted.append(name)
        if out.chatty:
            echo(f"deleted {name}" if name in deleted else f"no endpoint {name} on {prov.name}: nothing to delete")
    if out.json:
        echo_json({"deleted": deleted, "not_found": not_found})
