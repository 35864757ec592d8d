"""``cloudml train JOB_YAML``: validate, bundle, submit, then follow the job to its end (or ``--detach``).

Invariants:
- the job YAML is validated before anything else (typos exit 2 with a suggestion; a missing file exits 2 naming it);
- ``--dry-run`` prints the chosen offer, the estimated hours and cost and the provider's exact training request
  (``Provider.training_request``) and sends nothing: no upload, no provider call (the bundle is built locally);
- without ``--detach`` the command exits 0 only if the job completed; a failed job exits 1 with the provider's
  reason and the last log lines; Ctrl-C leaves the job running and prints how to re-attach.
"""

from __future__ import annotations

from typing import Any

import click

from cloudml.commands._common import echo, echo_json, masked, output, parse_pairs, provider_options, usd
from cloudml.commands._watch import follow, report, transfers


@click.command()
@click.argument("job_file", metavar="JOB_YAML")
@provider_options
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a YAML value, e.g. --set hyperparameters.epochs=5 (repeatable; values are YAML).")
@click.option("--dry-run", is_flag=True, help="Print the offer, estimate and exact provider request; send nothing.")
@click.option("--detach", "-d", is_flag=True, help="Return once the job is submitted.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True),
              help="Expected run time for the --dry-run estimate (default: max_run_seconds, the worst case).")
@click.option("--allow-secrets", is_flag=True,
              help="Bundle files whose content looks like a credential (with a warning); credential-named files "
                   "(.env, id_rsa, .aws/ ...) are still left out. Same as --set allow_secrets=true.")
@click.pass_context
def train(ctx: click.Context, job_file: str, provider: str | None, options: tuple[str, ...], sets: tuple[str, ...],
          dry_run: bool, detach: bool, hours: float | None, allow_secrets: bool) -> None:
    """Train the job described by JOB_YAML (see `cloudml init` and the README's job YAML reference).

    \b
      cloudml train job.yaml --provider local
      cloudml train job.yaml -p sagemaker --set resources.spot=true --dry-run
      cloudml train job.yaml --detach && cloudml jobs logs -f JOB
    """
    from cloudml import jobspec

    out = output(ctx)
    job = jobspec.load(job_file, (*sets, "allow_secrets=true") if allow_secrets else sets)
    est = job.estimator(provider, parse_pairs(options, "-C"))
    if dry_run:
        _dry_run(est, job, hours, out.json)
        return
    with transfers(out):
        handle = est.fit(job.inputs, wait=False, job_name=job.job_name)
    name, prov = handle.name, est.provider
    if detach:
        if out.json:
            echo_json({"name": name, "job": name, "provider": prov.name, "state": handle.describe().state})
        elif out.quiet:
            echo(name)
        else:
            echo(f"submitted {name} on {prov.name}\n  follow: cloudml jobs logs -f {name} -p {prov.name}\n"
                       f"  wait:   cloudml jobs wait {name} -p {prov.name}")
        return
    if out.chatty:
        echo(f"submitted {name} on {prov.name}; following its logs (Ctrl-C stops following, not the job)")
    result = follow(prov, name, out)
    report(out, result)
    if out.chatty:
        echo(f"deploy: cloudml deploy {name} -p {prov.name}")


def dry_run_plan(est: Any, job: Any, hours: float | None) -> dict[str, Any]:
    """Everything ``--dry-run`` prints, as a dict: the spec ``fit`` would submit, its offer and estimate, and the
    provider's request. No provider call beyond the offline ``prepare``/``validate``."""
    from cloudml import packaging
    from cloudml.config import cache_dir
    from cloudml.errors import CloudMLError

    spec = est.prepare(job.inputs, job.job_name)
    res = spec.resources
    offer = None
    if est.provider_name != "local" and res.instance_type:
        from cloudml.cost import price_of

        offer = price_of(est.provider_name, res.instance_type, res.region, res.spot, accelerator=res.accelerator)
    est_hours = hours if hours is not None else spec.max_run_seconds / 3600
    if est.provider_name == "local":
        cost: float | None = 0.0
    else:
        cost = offer.price_usd_hour * est_hours * spec.instance_count if offer else None
    bundle = packaging.build(spec.source.source_dir, cache_dir() / "bundles", entry_point=spec.source.entry_point,
                             ignore=spec.source.ignore, allow_secrets=spec.source.allow_secrets)
    try:
        request = est.provider.training_request(spec, bundle)
    except NotImplementedError as exc:
        raise CloudMLError(str(exc)) from None
    return {
        "job_name": spec.job_name, "provider": est.provider_name,
        "instance_type": res.instance_type, "instance_count": spec.instance_count,
        "offer": None if offer is None else {
            "instance_type": offer.instance_type, "region": offer.region, "capacity": offer.capacity,
            "accelerator": offer.accelerator, "accelerator_count": offer.accelerator_count,
            "price_usd_hour": offer.price_usd_hour, "source": offer.source, "as_of": offer.as_of,
            "derived": offer.derived},
        "estimated_hours": est_hours,
        "hours_basis": "from --hours" if hours is not None else "worst case: max_run_seconds",
        "estimated_cost_usd": cost,
        "bundle": {"name": bundle.name, "sha256": bundle.sha256, "size": bundle.size, "files": len(bundle.files)},
        "request": request,
    }


def _dry_run(est: Any, job: Any, hours: float | None, as_json: bool) -> None:
    import json

    plan = dry_run_plan(est, job, hours)
    if as_json:
        echo_json(plan)
        return
    offer = plan["offer"]
    if plan["provider"] == "local":
        where = "local machine (no charge)"
    elif offer:
        where = (f"{offer['instance_type']} in {offer['region']}, {offer['capacity']}, "
                 f"{usd(offer['price_usd_hour'])}/h" + (" (derived price)" if offer["derived"] else ""))
    else:
        where = f"{plan['instance_type']} (no catalog price)"
    echo(f"job       {plan['job_name']} on {plan['provider']}")
    echo(f"offer     {where} x {plan['instance_count']}")
    echo(f"estimate  {plan['estimated_hours']:.2f} h ({plan['hours_basis']}) -> "
               f"{usd(plan['estimated_cost_usd'])}")
    b = plan["bundle"]
    echo(f"bundle    {b['name']} ({b['files']} files, {b['size']:,} bytes)")
    echo("request   (what submit would send; secret-looking values masked)")
    echo(json.dumps(masked(plan["request"]), indent=2, default=str))
    echo("dry run: nothing was uploaded or submitted")
