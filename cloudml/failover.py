"""Failover: when a provider refuses a job for quota or capacity, find the next-cheapest feasible offer.

Used by ``Estimator.fit``. The planner (``cloudml.cost.plan_for``) ranks every catalog offer on the allowed
providers that satisfies the job's ``Resources`` (accelerator, memory, spot, budget ...) but not its pinned
instance type or region; offers already refused are skipped, and so are offers in a region other than the one
a provider is configured for (a provider instance talks to one region). A candidate is accepted only after the
same no-network checks ``fit`` runs first (``spec.validate``, ``check_features``, ``validate``): a provider
without configuration (no project, bucket, role, workspace ...) or that cannot read the job's channel URIs is
skipped, and the reason is kept.

Where each provider's options come from: the primary provider's are the Estimator's ``provider_options``; the
others' are ``failover_options[name]`` over the configuration file's section (``cloudml.config``), key by key.

Invariants: no network call here (provider constructors store options only); every attempt and every skipped
candidate is recorded with its reason in ``Attempt`` rows that ``Job.attempts`` exposes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cloudml.errors import CloudMLError
from cloudml.providers.base import Provider
from cloudml.spec import Resources, TrainingSpec

DEFAULT_PROVIDERS = ("sagemaker", "vertex", "azureml")


@dataclass(frozen=True)
class Attempt:
    """One place ``fit`` tried (or considered): ``outcome`` is ``submitted``, ``refused`` or ``skipped``."""

    provider: str
    instance_type: str | None
    region: str | None
    job_name: str | None
    outcome: str
    reason: str | None = None

    def __str__(self) -> str:
        where = f"{self.provider} {self.instance_type or '?'}" + (f" in {self.region}" if self.region else "")
        return f"{where}: {self.outcome}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Candidate:
    """A validated next offer: the provider to submit to and the spec to submit."""

    provider: Provider
    spec: TrainingSpec
    price_usd_hour: float

    def describe(self) -> str:
        r = self.spec.resources
        return (f"{self.provider.name} {r.instance_type}" + (f" in {r.region}" if r.region else "")
                + f" at ${self.price_usd_hour:.3f}/h")


def configured_region(provider: Provider) -> str | None:
    region = getattr(provider, "region", None) or getattr(provider, "location", None)
    return region if isinstance(region, str) else None


def attempt_name(job_name: str, attempt: int) -> str:
    """Attempt 1 keeps the name; later ones get ``-rN`` (63 characters at most, like ``make_job_name``)."""
    if attempt <= 1:
        return job_name
    suffix = f"-r{attempt}"
    return job_name[: 63 - len(suffix)].rstrip("-") + suffix


def next_offer(
    spec: TrainingSpec,
    allowed: Sequence[str],
    get_provider: Callable[[str], Provider | None],
    refused: set[tuple[str, str | None, str | None]],   # (provider, instance type, region or None: any)
    job_name: str,
    skipped: list[Attempt],
    request: Resources | None = None,
) -> Candidate | None:
    """The cheapest offer on ``allowed`` providers that satisfies the job's request (instance type and region
    freed), is not in ``refused`` and passes validation; ``None`` when there is none. ``request`` is the request
    the user gave (``Estimator.spec.resources``); without it ``spec.resources`` is used. The same request is
    searched on every provider (never widened: ``A100:1`` stays exactly one A100); a provider with no offer for
    it, or none in its configured region, is recorded in ``skipped`` with the planner's reason, as is every
    candidate that fails validation. ``get_provider(name)`` returns a configured provider or ``None``."""
    from cloudml.cost import Workload, plan_for

    res = replace(request or spec.resources, instance_type=None, region=None)
    usable = {}
    for name in dict.fromkeys(allowed):
        try:
            p = get_provider(name)
        except CloudMLError as exc:
            skipped.append(Attempt(name, None, None, None, "skipped", f"not usable: {exc}"))
            continue
        if p is not None:
            usable[name] = p
    if not usable:
        return None
    plans = []
    for name, provider in usable.items():
        region = configured_region(provider)
        try:
            found = plan_for(replace(res, region=region), [name], instance_count=spec.instance_count,
                             workload=Workload(hours=spec.max_run_seconds / 3600))
        except CloudMLError as exc:
            where = f" in {region}" if region else ""
            skipped.append(Attempt(name, None, region, None, "skipped", f"no offer{where}: {exc}"))
            continue
        plans.extend(found)
    plans.sort(key=lambda p: (p.hourly_usd, p.offer.label))
    seen: set[str] = set()
    for plan in plans:
        offer = plan.offer
        key = (offer.provider, offer.instance_type, offer.region)
        if key in refused or key[:2] + (None,) in refused or offer.provider not in usable:
            continue
        provider = usable[offer.provider]
        label = f"{offer.provider}:{offer.instance_type}"
        if label in seen:  # the same machine as spot and on-demand: the planner's filter already chose
            continue
        seen.add(label)
        accelerator = (f"{offer.accelerator}:{offer.accelerator_count}" if offer.accelerator
                       else spec.resources.accelerator)
        candidate = replace(spec, job_name=job_name, resources=replace(
            res, instance_type=offer.instance_type, region=offer.region, accelerator=accelerator))
        try:
            candidate.validate(provider.storage_schemes)
            provider.check_features(candidate)
            provider.validate(candidate)
        except CloudMLError as exc:
            skipped.append(Attempt(offer.provider, offer.instance_type, offer.region, None, "skipped", str(exc)))
            continue
        return Candidate(provider, candidate, offer.price_usd_hour)
    return None


def provider_getter(primary: Provider, failover_options: Mapping[str, Mapping[str, Any]]
                    ) -> Callable[[str], Provider | None]:
    """``name -> Provider`` for failover: the primary instance for its own name; others built from
    ``failover_options[name]`` over the configuration file's section, or ``None`` when neither has any option."""
    from cloudml import config, providers

    cache: dict[str, Provider | None] = {primary.name: primary}

    def get(name: str) -> Provider | None:
        if name not in cache:
            options = {**config.provider_options(name), **dict(failover_options.get(name) or {})}
            cache[name] = providers.get(name, **options) if options else None
        return cache[name]

    return get


__all__ = ["DEFAULT_PROVIDERS", "Attempt", "Candidate", "attempt_name", "next_offer", "provider_getter"]
