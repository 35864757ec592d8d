"""The planner: filter catalog offers by a request, estimate hours and cost, rank by an objective.

Objectives:
- ``cheapest-per-hour``: lowest price x instance_count (ties: lower total);
- ``cheapest-to-finish``: lowest estimated total = price x hours x instance_count (needs a workload);
- ``fastest-within-budget``: fewest estimated hours with total <= ``max_total_usd`` (needs a workload).

Invariants:
- ``plan`` returns a non-empty ranked list or raises ``NoFeasibleOfferError`` whose ``closest`` holds the
  offers that break the fewest constraints, each with the constraints it breaks (``Plan.violations``);
- every ``Plan`` carries its assumptions (price provenance, workload model, scaling);
- the planner never widens a request: ``A100:1`` matches only offers with exactly one 40 GB A100 per instance,
  ``A100:1+`` one or more, and ``A100`` never matches ``A100-80GB`` (ask for it by name);
- a TPU request counts chips; when no single host has that many chips, a multi-host slice of equal hosts is
  offered (``tpu-v5p:8`` = 2 x ``ct5p-hightpu-4t``, billed and counted as 2 instances) unless
  ``PlanRequest.allow_tpu_slices`` is False (the Estimator submits one host shape per instance);
- when nothing fits, the error names the nearest offers of the same accelerator first and how to ask for them;
- retired offers never reach the planner (the catalog drops them); retiring ones carry a flag in the assumptions;
- the planner does no I/O besides loading the catalog when none is passed.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from cloudml import accelerators
from cloudml.cost.catalog import Catalog, Offer, load_catalog
from cloudml.cost.instances import PROVIDERS
from cloudml.cost.workload import Workload
from cloudml.errors import BudgetExceededError, NoFeasibleOfferError, ValidationError

OBJECTIVES = ("cheapest-per-hour", "cheapest-to-finish", "fastest-within-budget")
# TPU VM generations whose hosts Vertex AI joins into multi-host slices (tpuTopology); v2/v3 ("cloud-tpu") are not.
SLICEABLE_TPUS = ("TPU-V4", "TPU-V5E", "TPU-V5P", "TPU-V6E")
_CHIP = {"A100-80GB": "A100", "V100-32GB": "V100", "H100-NVL": "H100"}     # memory/form variants of one chip


@dataclass(frozen=True)
class PlanRequest:
    accelerator: str | None = None          # "A100:8" exactly 8, "A100:1+" at least 1, "tpu-v5e:8" 8 chips
    providers: Sequence[str] = ()           # empty: all
    regions: Sequence[str] = ()             # empty: all
    spot: bool | None = False               # True: spot only; False: on-demand only; None: both
    min_accelerator_memory_gib: float | None = None
    min_vcpus: float | None = None
    min_memory_gib: float | None = None
    max_hourly_usd: float | None = None     # per instance-hour x instance_count
    max_total_usd: float | None = None
    max_hours: float | None = None
    instance_count: int = 1
    objective: str = "cheapest-per-hour"
    workload: Workload | None = None
    instance_types: Sequence[str] = ()      # empty: all
    allow_tpu_slices: bool = True           # offer multi-host TPU slices for chip counts no single host has

    def __post_init__(self) -> None:
        if self.accelerator is not None:
            accelerators.parse(self.accelerator)
        object.__setattr__(self, "providers", tuple(p.lower() for p in self.providers))
        object.__setattr__(self, "regions", tuple(self.regions))
        object.__setattr__(self, "instance_types", tuple(self.instance_types))
        for p in self.providers:
            if p not in PROVIDERS:
                raise ValidationError("providers", f"unknown provider {p!r}", "one of: " + ", ".join(PROVIDERS))
        if self.objective not in OBJECTIVES:
            raise ValidationError("objective", f"unknown objective {self.objective!r}", "one of: " + ", ".join(OBJECTIVES))
        if isinstance(self.instance_count, bool) or not isinstance(self.instance_count, int) or self.instance_count < 1:
            raise ValidationError("instance_count", f"must be a whole number of at least 1, got {self.instance_count!r}")
        for name in ("min_accelerator_memory_gib", "min_vcpus", "min_memory_gib", "max_hourly_usd",
                     "max_total_usd", "max_hours"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValidationError(name, f"must be a positive number, got {value!r}")
        if self.objective != "cheapest-per-hour" and self.workload is None:
            raise ValidationError("workload", f"objective {self.objective!r} needs a workload to estimate hours",
                                  "give hours, TFLOPs, params x tokens, or a measured step time")


@dataclass(frozen=True)
class Plan:
    """One offer evaluated against a request. ``assumptions`` are worked out when first read (planning the full
    catalog explains only the plans someone looks at)."""

    offer: Offer
    hours: float | None
    total_usd: float | None
    extra_assumptions: tuple[str, ...] = ()
    instance_count: int = 1
    violations: tuple[str, ...] = field(default=(), compare=False)
    distance: int = field(default=0, compare=False)     # how far from feasible: a wrong accelerator kind is 100
    request: PlanRequest | None = field(default=None, compare=False, repr=False)
    _assumptions: tuple[str, ...] | None = field(default=None, init=False, compare=False, repr=False)

    def _repr_html_(self) -> str:  # Jupyter (cloudml.display)
        from cloudml.display import repr_html

        return repr_html(self)

    @property
    def assumptions(self) -> tuple[str, ...]:
        cached = self._assumptions
        if cached is None:
            cached = _assumptions(self) + self.extra_assumptions
            object.__setattr__(self, "_assumptions", cached)
        return cached

    @property
    def hourly_usd(self) -> float:
        return self.offer.price_usd_hour * self.instance_count

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = asdict(self.offer)
        out.pop("notes", None)            # maintainer notes stay in the catalog file, out of user output
        out.update(instance_count=self.instance_count, hourly_usd=self.hourly_usd,
                   hours=self.hours, total_usd=self.total_usd, assumptions=list(self.assumptions))
        if self.violations:
            out["violations"] = list(self.violations)
        return out


def _accelerator_filter(request: PlanRequest) -> accelerators.Request | None:
    return accelerators.parse_request(request.accelerator) if request.accelerator is not None else None


def _slice_host(catalog: Catalog, acc: accelerators.Request | None, allowed: bool) -> int | None:
    """Chips per host for multi-host TPU slices of ``acc``: the largest host of that TPU, when no single host has
    the requested chip count and that count is a multiple of it; else None (no slices)."""
    if not allowed or acc is None or acc.at_least or acc.name not in SLICEABLE_TPUS:
        return None
    counts = {o.accelerator_count for o in catalog.rows if o.accelerator == acc.name}
    if not counts or acc.count in counts:
        return None
    largest = max(counts)
    return largest if acc.count > largest and acc.count % largest == 0 else None


def _hosts(offer: Offer, acc: accelerators.Request | None, slice_host: int | None) -> int | None:
    """Instances of ``offer`` per requested instance: 1 when it matches, k for a k-host TPU slice, None if no fit."""
    if acc is None or acc.matches(offer.accelerator, offer.accelerator_count):
        return 1
    if slice_host and offer.accelerator == acc.name and offer.accelerator_count == slice_host:
        return acc.count // slice_host
    return None


def _accelerator_miss(offer: Offer, acc: accelerators.Request) -> tuple[str, int]:
    """(what is wrong, distance) for an offer that does not match the accelerator request."""
    have = f"{offer.accelerator_count} x {offer.accelerator}" if offer.accelerator else "no accelerator"
    if offer.accelerator == acc.name:
        ratio = max(offer.accelerator_count, acc.count) / max(1, min(offer.accelerator_count, acc.count))
        return f"{have}, {acc} requested", 1 + int(math.log2(ratio) / 2)
    if offer.accelerator and _CHIP.get(offer.accelerator, offer.accelerator) == _CHIP.get(acc.name, acc.name):
        return f"{have}, {acc} requested (a different part of the same chip; ask for it by name)", 20
    return f"{have}, {acc} requested", 100


def _evaluate(offer: Offer, request: PlanRequest, acc: accelerators.Request | None,
              slice_host: int | None = None) -> Plan:
    hosts = _hosts(offer, acc, slice_host)
    n = request.instance_count * (hosts or 1)
    why: list[str] = []
    distance = 0
    if hosts is None and acc is not None:
        miss, distance = _accelerator_miss(offer, acc)
        why.append(miss)
        distance -= 1
    if request.providers and offer.provider not in request.providers:
        why.append(f"provider {offer.provider} not in {', '.join(request.providers)}")
        distance += 2
    if request.regions and offer.region not in request.regions:
        why.append(f"region {offer.region} not in {', '.join(request.regions)}")
        distance += 1
    if request.instance_types and offer.instance_type not in request.instance_types:
        why.append(f"instance type {offer.instance_type}, {'/'.join(request.instance_types)} requested")
    if request.spot is not None and offer.spot != request.spot:
        why.append(f"{offer.capacity} capacity, {'spot' if request.spot else 'on_demand'} requested")
    if request.min_accelerator_memory_gib and (offer.accelerator_memory_gib or 0) < request.min_accelerator_memory_gib:
        why.append(f"{offer.accelerator_memory_gib or 0:g} GiB accelerator memory < {request.min_accelerator_memory_gib:g}")
    if request.min_vcpus and (offer.vcpus or 0) < request.min_vcpus:
        why.append(f"{offer.vcpus or 0:g} vCPUs < {request.min_vcpus:g}")
    if request.min_memory_gib and (offer.memory_gib or 0) < request.min_memory_gib:
        why.append(f"{offer.memory_gib or 0:g} GiB RAM < {request.min_memory_gib:g}")
    hourly = offer.price_usd_hour * n
    if request.max_hourly_usd is not None and hourly > request.max_hourly_usd:
        why.append(f"${hourly:.2f}/h > max ${request.max_hourly_usd:g}/h")
    hours = total = None
    workload = request.workload
    if workload is not None:
        unfit = workload.memory_misfit(offer, n)
        if unfit:
            why.append(unfit)
            distance += 5
        hours = workload.hours_for(offer, n)
        if hours is None:
            why.append("hours cannot be estimated (no accelerator throughput)")
        else:
            total = hourly * hours
            if request.max_hours is not None and hours > request.max_hours:
                why.append(f"{hours:.2f} h > max {request.max_hours:g} h")
            if request.max_total_usd is not None and total > request.max_total_usd:
                why.append(f"${total:,.2f} total > max ${request.max_total_usd:,.2f}")
    return Plan(offer, hours, total, (), n, tuple(why), distance + len(why), request)


def _assumptions(p: Plan) -> tuple[str, ...]:
    """What a plan rests on, in the order a reader needs it (computed on first access)."""
    offer, request, n = p.offer, p.request, p.instance_count
    out = [price_assumption(offer)]
    if request is None:
        return tuple(out)
    acc = _accelerator_filter(request)
    if acc is not None and acc.note:
        out.append(acc.note)
    hosts = n // request.instance_count
    if hosts > 1:
        out.append(f"TPU slice of {acc.count if acc else 0} chips = {hosts} hosts x {offer.instance_type} "
                   f"({offer.accelerator_count} chips each), billed as {hosts} instances")
    if n > 1:
        out.append(f"{n} instances billed together")
    if offer.lifecycle == "retiring":
        out.append(f"RETIRING: {offer.instance_type} is retired by its provider on {offer.retires_on}")
    if request.workload is not None:
        out += request.workload.assumptions(offer, n)
    if offer.spot:
        out.append("spot capacity can be reclaimed; restarts add time not counted here")
    return tuple(out)


def price_assumption(offer: Offer) -> str:
    """The price line every plan shows: the price, where it comes from and when it was observed."""
    basis = f"derived: {offer.formula}" if offer.derived else f"sourced: {offer.source}" + (
        f"; {offer.formula}" if offer.formula else "")
    return (f"price ${offer.price_usd_hour:g}/h per instance ({offer.capacity}, {basis}; "
            f"observed {offer.observed_at})")


def _tie(p: Plan) -> tuple[str, str, str, str]:
    o = p.offer
    return (o.provider, o.instance_type, o.region, o.capacity)


def _rank_key(objective: str):
    inf = float("inf")
    if objective == "cheapest-per-hour":
        return lambda p: (p.hourly_usd, p.total_usd if p.total_usd is not None else inf, _tie(p))
    if objective == "cheapest-to-finish":
        return lambda p: (p.total_usd if p.total_usd is not None else inf, p.hours or inf, _tie(p))
    return lambda p: (p.hours if p.hours is not None else inf, p.total_usd or inf, _tie(p))


def plan(request: PlanRequest, catalog: Catalog | None = None) -> list[Plan]:
    """Ranked feasible plans for ``request`` (best first). Raises ``NoFeasibleOfferError`` with the closest
    offers (fewest broken constraints, then the objective) when nothing fits."""
    catalog = catalog if catalog is not None else load_catalog()
    # one Plan per offer, none in a reference cycle: the cyclic collector would only walk a big catalog again
    # and again while they are made (a 100,000-offer catalog plans 3x faster without it)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _plan(request, catalog)
    finally:
        if enabled:
            gc.enable()


def _plan(request: PlanRequest, catalog: Catalog) -> list[Plan]:
    acc = _accelerator_filter(request)
    slice_host = _slice_host(catalog, acc, request.allow_tpu_slices)
    key = _rank_key(request.objective)
    capacity = None if request.spot is None else ("spot" if request.spot else "on_demand")
    # the offers that can satisfy the request first (an index on accelerator and capacity); the whole catalog
    # is evaluated only to explain a request nothing satisfies
    likely = catalog.subset(acc.name if acc is not None else None, capacity)
    if acc is not None:
        likely = tuple(o for o in likely if _hosts(o, acc, slice_host) is not None)
    feasible = sorted((p for p in (_evaluate(o, request, acc, slice_host) for o in likely) if not p.violations),
                      key=key)
    if feasible:
        return feasible
    evaluated = [_evaluate(offer, request, acc, slice_host) for offer in catalog.rows]
    ranked = sorted(evaluated, key=lambda p: (p.distance, key(p)))
    closest = ranked[:5]
    if acc is not None:   # the nearest offers of the same accelerator first, then the rest
        same = [p for p in ranked if p.offer.accelerator == acc.name][:5]
        closest = (same + [p for p in ranked[:5] if p not in same])[:5] if same else closest
    raise NoFeasibleOfferError(_describe(request) + ": no catalog offer satisfies it" + _hint(request, acc, ranked),
                               closest=closest)


def _hint(request: PlanRequest, acc: accelerators.Request | None, ranked: Sequence[Plan]) -> str:
    """What to ask for instead: the counts the same accelerator comes in where only the count is wrong."""
    if acc is None:
        return ""
    only_count = [p for p in ranked if p.offer.accelerator == acc.name and len(p.violations) == 1
                  and not acc.matches(p.offer.accelerator, p.offer.accelerator_count)]
    if only_count:
        counts = sorted({p.offer.accelerator_count for p in only_count})
        unit = "chips" if accelerators.ACCELERATORS[acc.name].kind == "tpu" else "devices"
        where = ", ".join(list(dict.fromkeys(p.offer.instance_type for p in only_count))[:4])
        larger = [c for c in counts if c > acc.count]
        nearest = min(counts, key=lambda c: (abs(math.log2(c / acc.count)), -c))
        ask = f"ask for {acc.name}:{nearest} exactly"
        ask += f", or {acc.name}:{acc.count}+ for at least {acc.count}" if larger else \
            f", or {acc.name}:{max(counts)} with more instances (instance_count)"
        return (f"; where everything else fits, {acc.name} comes with {'/'.join(map(str, counts))} {unit} per "
                f"instance ({where}): {ask}")
    if not any(p.offer.accelerator == acc.name for p in ranked):
        return f"; no {acc.name} offer is near the other constraints"
    return ""


def _describe(request: PlanRequest) -> str:
    parts = [f"accelerator {request.accelerator}" if request.accelerator
             else "" if request.instance_types else "any machine"]
    if request.instance_types:
        parts.insert(0, "instance type " + "/".join(request.instance_types))
        parts = [p for p in parts if p]
    if request.providers:
        parts.append("on " + "/".join(request.providers))
    if request.spot is not None:
        parts.append("spot" if request.spot else "on-demand")
    return "request for " + ", ".join(parts)


def pareto_front(plans: Sequence[Plan]) -> list[Plan]:
    """Plans no other plan beats on both hours and total cost, fastest first (plans without estimates skipped)."""
    known = sorted((p for p in plans if p.hours is not None and p.total_usd is not None),
                   key=lambda p: (p.hours, p.total_usd))
    front: list[Plan] = []
    best_cost = float("inf")
    for p in known:
        if p.total_usd < best_cost:          # type: ignore[operator]
            front.append(p)
            best_cost = p.total_usd           # type: ignore[assignment]
    return front


def plan_for(resources, providers: Sequence[str], instance_count: int = 1, workload: Workload | None = None,
             objective: str = "cheapest-per-hour", catalog: Catalog | None = None) -> list[Plan]:
    """Plans for a ``cloudml.spec.Resources`` on the given providers (names without catalog rows, such as
    ``local``, are ignored). A pinned ``resources.instance_type`` restricts the plans to it.

    Raises ``BudgetExceededError`` when the best plan's estimated total exceeds ``resources.max_total_usd``
    (the message shows the estimate and its assumptions). Without a workload the total cannot be estimated;
    callers that know the run limit should pass ``Workload(hours=max_run_seconds / 3600)`` (worst case).
    """
    known = tuple(p for p in providers if p in PROVIDERS)
    if not known:
        raise NoFeasibleOfferError(f"no priced provider among {', '.join(providers) or 'none'}", closest=[])
    request = PlanRequest(
        accelerator=resources.accelerator, providers=known,
        regions=(resources.region,) if resources.region else (), spot=resources.spot,
        min_accelerator_memory_gib=resources.min_accelerator_memory_gib, min_vcpus=resources.min_vcpus,
        min_memory_gib=resources.min_memory_gib, max_hourly_usd=resources.max_hourly_usd,
        instance_count=instance_count, objective=objective, workload=workload,
        instance_types=(resources.instance_type,) if resources.instance_type else (), allow_tpu_slices=False,
    )
    plans = plan(request, catalog)
    best = plans[0]
    limit = resources.max_total_usd
    if limit is not None and best.total_usd is not None and best.total_usd > limit:
        lines = "\n".join("  - " + a for a in best.assumptions)
        raise BudgetExceededError(
            f"estimated cost ${best.total_usd:,.2f} ({best.hours:.2f} h on {best.offer.label}) exceeds "
            f"max_total_usd ${limit:,.2f}; nothing was started. Assumptions:\n{lines}")
    if limit is not None and best.total_usd is None:
        best = replace(best, extra_assumptions=best.extra_assumptions + (
            f"no workload given: total cost not estimated, max_total_usd ${limit:,.2f} not checked",))
        plans = [best, *plans[1:]]
    return plans
