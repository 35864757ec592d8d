"""``cloudml cost``, ``cloudml instances`` and ``cloudml catalog``: the cost model on the command line.

Invariants:
- exit codes: 0 ok; 1 the operation failed (refresh error, rows dropped by ``catalog validate``, missing
  extra); 2 bad input, with a message naming the value and the accepted forms; 3 nothing feasible, with the
  closest offers and what each breaks;
- ``--format json|csv`` carry the same numbers as the table (JSON floats are not rounded);
- tables are plain text (``cloudml.cost.table``, stdlib) so the commands start fast; matplotlib is imported only for
  ``cost plot``, boto3 only inside ``catalog refresh --provider sagemaker``; nothing here imports a cloud SDK,
  torch or TensorFlow otherwise;
- every printed table says how old its prices are (``price_age``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import click

from cloudml.cost import table
from cloudml.cost.catalog import Catalog, load_catalog, price_age
from cloudml.cost.instances import PROVIDERS
from cloudml.cost.planner import OBJECTIVES, Plan, PlanRequest, pareto_front, plan
from cloudml.cost.workload import (
    DEFAULT_BYTES_PER_PARAM,
    DEFAULT_EFFICIENCY,
    DEFAULT_SEQUENCE,
    WORKLOAD_CLASSES,
    Workload,
)
from cloudml.errors import CloudMLError, MissingDependencyError, NoFeasibleOfferError, ValidationError

PROVIDER_ALIASES = {"aws": "sagemaker", "gcp": "vertex", "google": "vertex", "azure": "azureml"}
PROVIDER_FORMS = ", ".join(PROVIDERS) + " (or aws, gcp, azure)"
POSITIVE = click.FloatRange(min=0, min_open=True)


def _providers(values: Sequence[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        for name in value.split(","):
            key = PROVIDER_ALIASES.get(name.strip().lower(), name.strip().lower())
            if key not in PROVIDERS:
                raise ValidationError("--provider", f"unknown provider {name.strip()!r}", "one of: " + PROVIDER_FORMS)
            out.append(key)
    return tuple(dict.fromkeys(out))


def _fail(code: int, message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _run(fn: Callable[[], int | None]) -> None:
    """Map cloudml errors to exit codes: ValidationError 2, NoFeasibleOfferError 3, other errors 1."""
    try:
        code = fn()
    except ValidationError as exc:
        _fail(2, str(exc))
    except NoFeasibleOfferError as exc:
        click.echo(f"Error: {exc}", err=True)
        if exc.closest:
            click.echo("Closest offers and what they break:", err=True)
            for p in exc.closest:  # Plan objects
                assert isinstance(p, Plan)
                price = f"${p.hourly_usd:,.2f}/h" + (f", ${p.total_usd:,.2f} total" if p.total_usd is not None else "")
                click.echo(f"  {p.offer.label} ({price}): " + "; ".join(p.violations), err=True)
        sys.exit(3)
    except CloudMLError as exc:
        _fail(1, str(exc))
    if code:
        sys.exit(code)


def filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by compare / plan / plot / instances list."""
    for option in reversed([
        click.option("--accelerator", "-a", help="NAME[:COUNT[+]] per instance: A100:8 exactly 8, A100:1+ at least 1, "
                                                 "H100 exactly 1, tpu-v5e:8 (chips) or tpu-v5p-8 (Google's name)."),
        click.option("--provider", "-p", "providers", multiple=True, help="sagemaker|vertex|azureml (repeatable)."),
        click.option("--region", "regions", multiple=True, help="Region(s) to consider (repeatable)."),
        click.option("--spot/--on-demand", default=False, help="Spot capacity only, or on-demand only (default)."),
        click.option("--any-capacity", is_flag=True, help="Consider spot and on-demand offers."),
        click.option("--min-gpu-mem", type=POSITIVE, help="Minimum accelerator memory per device, GiB."),
        click.option("--min-vcpus", type=POSITIVE, help="Minimum vCPUs per instance."),
        click.option("--min-memory", type=POSITIVE, help="Minimum RAM per instance, GiB."),
        click.option("--max-hourly", type=POSITIVE, help="Maximum USD per hour (all instances)."),
        click.option("--catalog", "catalog_path", type=click.Path(), help="Override catalog CSV (else $CLOUDML_CATALOG)."),
        click.option("--verbose", "-v", is_flag=True, help="Print every dropped catalog row with its reason."),
        click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True),
    ]):
        fn = option(fn)
    return fn


def workload_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--hours", type=POSITIVE, help="Wall-clock hours, taken as the same on every offer."),
        click.option("--workload-tflop", "tflop", type=POSITIVE, help="Total training compute, TFLOPs."),
        click.option("--params", type=POSITIVE, help="Model parameters (with --tokens: compute = 6 x params x tokens)."),
        click.option("--tokens", type=POSITIVE, help="Training tokens."),
        click.option("--step-time", type=POSITIVE, help="Measured seconds per step on --reference."),
        click.option("--steps", type=click.IntRange(min=1), help="Number of steps (with --step-time)."),
        click.option("--reference", help="Accelerator the step time was measured on, e.g. V100:8."),
        click.option("--efficiency", type=click.FloatRange(min=0, max=1, min_open=True), default=DEFAULT_EFFICIENCY,
                     show_default=True, help="A100's sustained fraction of peak (MFU); other accelerators scale "
                                             "by the MLPerf-fitted factor."),
        click.option("--workload-class", type=click.Choice(WORKLOAD_CLASSES), default="transformer",
                     show_default=True, help="Which measured MLPerf speedups and scaling to use."),
        click.option("--model-params", type=POSITIVE,
                     help="Model parameters for the memory-fit check when compute is given as TFLOPs or step time."),
        click.option("--bytes-per-param", type=POSITIVE, default=DEFAULT_BYTES_PER_PARAM, show_default=True,
                     help="Training state per parameter (16 = mixed-precision Adam, full training; 2 = frozen bf16)."),
        click.option("--seq-len", type=click.IntRange(min=1), default=DEFAULT_SEQUENCE, show_default=True,
                     help="Sequence length for the transformer activation estimate."),
        click.option("--instance-count", "-n", type=click.IntRange(min=1), default=1, show_default=True),
        click.option("--max-total", type=POSITIVE, help="Maximum estimated total USD."),
        click.option("--max-hours", type=POSITIVE, help="Maximum estimated hours."),
    ]):
        fn = option(fn)
    return fn


def _workload(o: dict[str, Any]) -> Workload | None:
    given = {k: o.get(k) for k in ("hours", "tflop", "params", "tokens")}
    step = {"step_time_s": o.get("step_time"), "steps": o.get("steps"), "reference_accelerator": o.get("reference")}
    if all(v is None for v in (*given.values(), *step.values())):
        return None
    return Workload(**{k: v for k, v in {**given, **step}.items() if v is not None},
                    efficiency=o.get("efficiency") or DEFAULT_EFFICIENCY,
                    workload_class=o.get("workload_class") or "transformer",
                    model_params=o.get("model_params"),
                    bytes_per_param=o.get("bytes_per_param") or DEFAULT_BYTES_PER_PARAM,
                    sequence_length=o.get("seq_len") or DEFAULT_SEQUENCE)


def _request(o: dict[str, Any], objective: str) -> tuple[PlanRequest, Catalog]:
    catalog = load_catalog(o.get("catalog_path"), verbose=o.get("verbose", False))
    request = PlanRequest(
        accelerator=o.get("accelerator"), providers=_providers(o.get("providers") or ()),
        regions=o.get("regions") or (), spot=None if o.get("any_capacity") else o.get("spot", False),
        min_accelerator_memory_gib=o.get("min_gpu_mem"), min_vcpus=o.get("min_vcpus"),
        min_memory_gib=o.get("min_memory"), max_hourly_usd=o.get("max_hourly"),
        max_total_usd=o.get("max_total"), max_hours=o.get("max_hours"),
        instance_count=o.get("instance_count") or 1, objective=objective, workload=_workload(o),
    )
    return request, catalog


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


PLAN_COLUMNS = (("#", "right"), ("provider", "left"), ("instance type", "left"), ("region", "left"),
                ("accelerators", "left"), ("capacity", "left"), ("$/hour", "right"), ("hours", "right"),
                ("total $", "right"), ("", "left"))


def emit_plans(plans: Sequence[Plan], fmt: str, title: str, limit: int | None = None) -> None:
    front = {id(p) for p in pareto_front(plans)}
    shown = list(plans[:limit] if limit else plans)
    age = price_age([p.offer for p in shown])
    if fmt == "json":
        import json

        click.echo(json.dumps({"price_age": age, "plans": [dict(p.to_dict(), rank=i + 1, pareto=id(p) in front)
                                                           for i, p in enumerate(shown)]}, indent=2))
        return
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        keys = ["rank", "provider", "instance_type", "region", "accelerator", "accelerator_count", "capacity",
                "price_usd_hour", "instance_count", "hourly_usd", "hours", "total_usd", "pareto", "derived",
                "source", "observed_at", "lifecycle", "assumptions"]
        writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for i, p in enumerate(shown):
            row = p.to_dict()
            row.update(rank=i + 1, pareto=id(p) in front, assumptions=" | ".join(p.assumptions))
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in keys})
        click.echo(buf.getvalue(), nl=False)
        return
    rows = []
    for i, p in enumerate(shown):
        o = p.offer
        marks = ("P" if id(p) in front else "") + ("*" if o.derived else "") + ("R" if o.lifecycle == "retiring" else "")
        accel = f"{o.accelerator_count} x {o.accelerator}" if o.accelerator else "-"
        if p.instance_count > 1:
            accel += f" (x{p.instance_count} instances)"
        rows.append([str(i + 1), o.provider, o.instance_type, o.region, accel, o.capacity, f"{p.hourly_usd:,.2f}",
                     _fmt(p.hours, "{:,.2f}"), _fmt(p.total_usd, "{:,.2f}"), marks])
    lines = [table.render(title, PLAN_COLUMNS, rows, age.capitalize())]
    if shown:
        lines.append(f"Best: {shown[0].offer.label}. Assumptions:")
        lines += [f"  - {a}" for a in shown[0].assumptions]
        warned = [p for p in shown[1:] if any(a.startswith("WARNING") for a in p.assumptions)]
        if warned:
            lines.append(f"{len(warned)} more row(s) carry a WARNING (estimate over a year or under a minute); "
                         "--format json shows every row's assumptions")
    lines.append("P = on the time/cost Pareto front; * = derived price (formula in the assumptions); R = retiring")
    if limit and len(plans) > limit:
        lines.append(f"({len(plans) - limit} more; use --limit 0 for all)")
    click.echo("\n".join(lines))


@click.group()
def cost() -> None:
    """Compare offers and plan the cheapest (or fastest within budget) way to run a job."""


def _ranked(o: dict[str, Any], title: str) -> None:
    def body() -> None:
        request, catalog = _request(o, o["objective"])
        emit_plans(plan(request, catalog), o["fmt"], f"{title} ({o['objective']})", o["limit"])
    _run(body)


LIMIT = click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Rows to show; 0 = all.")


@cost.command()
@filter_options
@workload_options
@click.option("--objective", type=click.Choice(OBJECTIVES), default="cheapest-per-hour", show_default=True)
@LIMIT
def compare(**o: Any) -> None:
    """Offers that match, with hourly price and (given a workload) total cost."""
    _ranked(o, "Offers")


@cost.command("plan")
@filter_options
@workload_options
@click.option("--objective", type=click.Choice(OBJECTIVES), default="cheapest-to-finish", show_default=True)
@LIMIT
def plan_command(**o: Any) -> None:
    """Workload-driven plans: estimated hours and total cost per offer, ranked by --objective."""
    _ranked(o, "Plans")


@cost.command()
@filter_options
@workload_options
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Image file to write, e.g. pareto.png.")
def plot(**o: Any) -> None:
    """Draw estimated hours vs total cost per offer, with the Pareto front (needs cloudml[plot])."""
    def body() -> None:
        request, catalog = _request(o, "cheapest-to-finish")
        plans = plan(request, catalog)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise MissingDependencyError("plot", "matplotlib") from None
        from cloudml.cost import plot as plotting

        drawn, front = plotting.draw(plans, request, o["out"])
        if o.get("fmt") == "json":  # the file is the result; --format json describes it (issue 17)
            import json

            click.echo(json.dumps({"out": str(o["out"]), "offers": drawn, "pareto_front": front}, indent=2))
        else:
            click.echo(f"wrote {o['out']} ({drawn} offers, {front} on the Pareto front)")
    _run(body)


@click.group()
def instances() -> None:
    """List instance types from the catalog."""


@instances.command("list")
@filter_options
def instances_list(**o: Any) -> None:
    """Catalog offers matching the filters, cheapest per hour first."""
    def body() -> None:
        request, catalog = _request(o, "cheapest-per-hour")
        emit_plans(plan(request, catalog), o["fmt"], "Instances")
    _run(body)


@click.group()
def catalog() -> None:
    """Show, validate or refresh the price catalog."""


@catalog.command()
@click.option("--provider", "-p", "providers", multiple=True, help="Only these providers.")
@click.option("--catalog", "catalog_path", type=click.Path(), help="Override catalog CSV (else $CLOUDML_CATALOG).")
@click.option("--verbose", "-v", is_flag=True, help="Print every dropped row with its reason.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def show(providers: tuple[str, ...], catalog_path: str | None, verbose: bool, fmt: str) -> None:
    """Every catalog row with its price source and date."""
    def body() -> None:
        from cloudml.cost.catalog import write_csv

        wanted = _providers(providers) or PROVIDERS
        rows = [r for r in load_catalog(catalog_path, verbose=verbose).rows if r.provider in wanted]
        if fmt == "csv":
            click.echo(write_csv(rows), nl=False)
        elif fmt == "json":
            import json

            click.echo(json.dumps([{k: v for k, v in asdict(r).items() if k != "notes"} for r in rows], indent=2))
        else:
            cols = (("provider", "left"), ("instance type", "left"), ("region", "left"), ("accelerators", "left"),
                    ("capacity", "left"), ("$/hour", "right"), ("observed", "left"), ("lifecycle", "left"),
                    ("source", "left"))
            cells = [[r.provider, r.instance_type, r.region,
                      f"{r.accelerator_count} x {r.accelerator}" if r.accelerator else "-", r.capacity,
                      f"{r.price_usd_hour:,.4f}" + ("*" if r.derived else ""), r.observed_at,
                      r.lifecycle + (f" {r.retires_on}" if r.retires_on else ""), r.source] for r in rows]
            click.echo(table.render(f"Catalog ({len(rows)} offers)", cols, cells, price_age(rows).capitalize()))
    _run(body)


@catalog.command()
@click.option("--catalog", "catalog_path", type=click.Path(), help="Catalog CSV to validate on top of the bundled one.")
@click.option("--verbose", "-v", is_flag=True, help="Also list the rows that passed.")
def validate(catalog_path: str | None, verbose: bool) -> None:
    """Validate the bundled snapshot, the refresh cache and the override file; exit 1 if any row is dropped."""
    def body() -> int:
        cat = load_catalog(catalog_path)
        retired = [(row, reason) for row, reason in cat.dropped if (row.get("lifecycle") or "") == "retired"]
        errors = [(row, reason) for row, reason in cat.dropped if (row.get("lifecycle") or "") != "retired"]
        for row, reason in errors:
            click.echo(f"dropped {row.get('provider', '?')}:{row.get('instance_type', '?')} "
                       f"{row.get('region', '?')} {row.get('capacity', '?')}: {reason}")
        if verbose:
            for row, reason in retired:
                click.echo(f"retired {row.get('provider', '?')}:{row.get('instance_type', '?')} "
                           f"{row.get('region', '?')} {row.get('capacity', '?')}: {reason}")
            for r in cat.rows:
                click.echo(f"ok {r.label} ${r.price_usd_hour:g}/h")
        click.echo(f"{len(cat.rows)} rows valid, {len(errors)} dropped, {len(retired)} retired (never offered); "
                   f"{price_age(cat.rows)}")
        return 1 if errors else 0
    _run(body)


@catalog.command()
@click.option("--provider", "-p", "providers", multiple=True, required=True,
              help="sagemaker|vertex|azureml (aws, gcp, azure accepted); repeatable.")
@click.option("--region", "regions", multiple=True, help="Regions to fetch (default: the snapshot's regions).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of the user cache.")
def refresh(providers: tuple[str, ...], regions: tuple[str, ...], out: str | None) -> None:
    """Pull current prices from the providers' price APIs into the user cache (each row's observed_at = today).

    Credentials: AWS (Price List + EC2 spot history) uses boto3's usual chain; GCP's Cloud Billing Catalog needs
    CLOUDML_GCP_API_KEY or CLOUDML_GCP_ACCESS_TOKEN; Azure Retail Prices is public. Endpoints can be overridden
    with CLOUDML_AWS_PRICING_ENDPOINT, CLOUDML_AWS_EC2_ENDPOINT, CLOUDML_GCP_BILLING_URL, CLOUDML_AZURE_PRICES_URL.
    """
    def body() -> None:
        from cloudml.cost import refresh as refresher

        written, path = refresher.refresh(_providers(providers), regions=regions or None, out=out)
        click.echo(f"wrote {written} offers to {path}")
    _run(body)
