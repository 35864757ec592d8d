"""The planner: filter catalog offers by a request, estimate hours and cost, rank by an objective.

Objectives:
- ``cheapest-per-hour``: lowest price x instance_count (ties: lower total);
- ``cheapest-to-finish``: lowest estimated total = price x hours x instance_count (needs a workload);
- ``fastest-within-budget``: fewest estimated hours with total <= ``max_total_usd`` (needs a workload).

Invariants:
- ``plan`` returns a non-empty ranked list or raises ``NoFeasibleOfferError`` whose ``closest`` holds the
  offers that break the fewest constraints, each with the constraints it breaks (``Plan.violations``);
- every ``Plan`` carries its assumptions (price provenance, workload model, scaling);
- ``A100`` also matches ``A100-80GB`` and ``V100`` matches ``V100-32GB`` (the larger-memory part of the same
  chip); ``--min-gpu-mem`` pins the memory. A count in the request is a minimum.
- the planner does no I/O besides loading the catalog when none is passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from cloudml import accelerators
from cloudml.cost.catalog import Catalog, Offer, load_catalog
from cloudml.cost.instances import PROVIDERS
from cloudml.cost.workload import Workload
from cloudml.errors import BudgetExceededError, NoFeasibleOfferError, ValidationError

OBJECTIVES = ("cheapest-per-hour", "cheapest-to-finish", "fastest-within-budget")
_SAME_CHIP = {"A100": ("A100", "A100-80GB"), "V100": ("V100", "V100-32GB")}


@dataclass(frozen=True)
class PlanRequest:
    accelerator: str | None = None          # "A100:8" (name + minimum count) or "tpu-v5e"
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
    offer: Offer
    hours: float | None
    total_usd: float | None
    assumptions: tuple[str, ...] = ()
    instance_count: int = 1
    violations: tuple[str, ...] = field(default=(), compare=False)
    distance: int = field(default=0, compare=False)     # how far from feasible: a wrong accelerator kind is 10


    @property
    def hourly_usd(self) -> float:
        return self.offer.price_usd_hour * self.instance_count

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = asdict(self.offer)
        out.update(instance_count=self.instance_count, hourly_usd=self.hourly_usd,
                   hours=self.hours, total_usd=self.total_usd, assumptions=list(self.assumptions))
        if self.violations:
            out["violations"] = list(self.violations)
        return out


def _accelerator_filter(request: PlanRequest) -> tuple[tuple[str, ...], int] | None:
    if request.accelerator is None:
        return None
    name, count = accelerators.parse(request.accelerator)
    return _SAME_CHIP.get(name, (name,)), count


def _evaluate(offer: Offer, request: PlanRequest, acc: tuple[tuple[str, ...], int] | None) -> Plan:
    n = request.instance_count
    why: list[str] = []
    distance = 0
    if request.providers and offer.provider not in request.providers:
        why.append(f"provider {offer.provider} not in {', '.join(request.providers)}")
    if request.regions and offer.region not in request.regions:
        why.append(f"region {offer.region} not in {', '.join(request.regions)}")
    if request.instance_types and offer.instance_type not in request.instance_types:
        why.append(f"instance type {offer.instance_type} not requested")
    if request.spot is not None and offer.spot != request.spot:
        why.append(f"{offer.capacity} capacity, {'spot' if request.spot else 'on_demand'} requested")
    if acc is not None:
        names, count = acc
        if offer.accelerator not in names:
            why.append(f"{offer.accelerator or 'no accelerator'}, {'/'.join(names)} requested")
            distance += 9
        elif offer.accelerator_count < count:
            why.append(f"{offer.accelerator_count} x {offer.accelerator} < {count} requested")
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
    assumptions = [f"price ${offer.price_usd_hour:g}/h per instance ({offer.capacity}, "
                   f"{'derived' if offer.derived else 'sourced'}: {offer.source}, as of {offer.as_of})"]
    if offer.notes:
        assumptions.append(f"price note: {offer.notes}")
    if n > 1:
        assumptions.append(f"{n} instances billed together")
    if request.workload is not None:
        hours = request.workload.hours_for(offer, n)
        assumptions += request.workload.assumptions(offer, n)
        if hours is None:
            why.append("hours cannot be estimated (no accelerator throughput)")
        else:
            total = hourly * hours
            if request.max_hours is not None and hours > request.max_hours:
                why.append(f"{hours:.2f} h > max {request.max_hours:g} h")
            if request.max_total_usd is not None and total > request.max_total_usd:
                why.append(f"${total:,.2f} total > max ${request.max_total_usd:,.2f}")
    if offer.spot:
        assumptions.append("spot capacity can be reclaimed; restarts add time not counted here")
    return Plan(offer, hours, total, tuple(assumptions), n, tuple(why), distance + len(why))


def _rank_key(objective: str):
    inf = float("inf")
    if objective == "cheapest-per-hour":
        return lambda p: (p.hourly_usd, p.total_usd if p.total_usd is not None else inf, p.offer.label)
    if objective == "cheapest-to-finish":
        return lambda p: (p.total_usd if p.total_usd is not None else inf, p.hours or inf, p.offer.label)
    return lambda p: (p.hours if p.hours is not None else inf, p.total_usd or inf, p.offer.label)


def plan(request: PlanRequest, catalog: Catalog | None = None) -> list[Plan]:
    """Ranked feasible plans for ``request`` (best first). Raises ``NoFeasibleOfferError`` with the closest
    offers (fewest broken constraints, then the objective) when nothing fits."""
    catalog = catalog if catalog is not None else load_catalog()
    acc = _accelerator_filter(request)
    evaluated = [_evaluate(offer, request, acc) for offer in catalog.rows]
    key = _rank_key(request.objective)
    feasible = sorted((p for p in evaluated if not p.violations), key=key)
    if feasible:
        return feasible
    closest = sorted(evaluated, key=lambda p: (p.distance, key(p)))[:5]
    raise NoFeasibleOfferError(_describe(request) + ": no catalog offer satisfies it", closest=closest)


def _describe(request: PlanRequest) -> str:
    parts = [f"accelerator {request.accelerator}" if request.accelerator else "any machine"]
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
        instance_types=(resources.instance_type,) if resources.instance_type else (),
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
        best = replace(best, assumptions=best.assumptions + (
            f"no workload given: total cost not estimated, max_total_usd ${limit:,.2f} not checked",))
        plans = [best, *plans[1:]]
    return plans
