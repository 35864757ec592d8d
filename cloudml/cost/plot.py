"""``cloudml cost plot``: estimated hours against estimated total cost, one point per offer, readable at a glance.

The chart: a title naming the workload and the request; log-scaled axes with plain tick labels (hours, $);
one colour per service; the time/cost Pareto front drawn and every front point labelled with its instance type,
region and numbers; the cheapest and the fastest plan marked; the assumptions (workload class, efficiency, what
the hours rest on, how old the prices are) printed under the axes. Imports matplotlib (extra ``plot``) only here.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudml.cost.catalog import price_age
from cloudml.cost.planner import Plan, PlanRequest, pareto_front

COLOURS = {"sagemaker": "#ff9900", "vertex": "#4285f4", "azureml": "#00a36c"}
NAMES = {"sagemaker": "SageMaker", "vertex": "Vertex AI", "azureml": "Azure ML"}


def _money(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"${value / 1000:,.0f}k" if value >= 10000 else f"${value / 1000:,.1f}k"
    return f"${value:,.0f}" if value >= 10 else f"${value:,.2f}"


def _hours(value: float, _pos: object = None) -> str:
    if value >= 48:
        return f"{value / 24:,.0f} d" if value >= 240 else f"{value / 24:,.1f} d"
    return f"{value:,.0f} h" if value >= 10 else f"{value:,.1f} h"


def _count(value: float) -> str:
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:g}"


def _describe(request: PlanRequest) -> str:
    w = request.workload
    what = "workload"
    if w is not None:
        if w.params is not None:
            what = f"full training of a {_count(w.params)}-parameter {w.workload_class} on {_count(w.tokens or 0)} tokens"
        elif w.tflop is not None:
            what = f"{_count(w.tflop)} TFLOP {w.workload_class} job"
        elif w.step_time_s is not None:
            what = f"{w.steps} steps of {w.step_time_s:g} s on {w.reference_accelerator}"
        else:
            what = f"{w.hours:g} h job"
    parts = [what]
    if request.accelerator:
        parts.append(f"accelerator {request.accelerator}")
    if request.instance_count > 1:
        parts.append(f"{request.instance_count} instances")
    parts.append("spot" if request.spot else "on-demand" if request.spot is False else "spot or on-demand")
    return ", ".join(parts)


def draw(plans: Sequence[Plan], request: PlanRequest, out: str) -> tuple[int, int]:
    """Write the chart to ``out`` (the format from its suffix); returns (points drawn, points on the front)."""
    import matplotlib

    matplotlib.use("Agg")
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    known = [p for p in plans if p.hours is not None and p.total_usd is not None]
    hours = {id(p): float(p.hours or 0.0) for p in known}
    total = {id(p): float(p.total_usd or 0.0) for p in known}
    front = pareto_front(known)
    fig, ax = plt.subplots(figsize=(11, 7))
    for provider, colour in COLOURS.items():
        pts = [p for p in known if p.offer.provider == provider]
        if pts:
            ax.scatter([hours[id(p)] for p in pts], [total[id(p)] for p in pts], s=28, c=colour, alpha=0.45,
                       edgecolors="none", label=f"{NAMES[provider]} ({len(pts)} offers)")
    if front:
        ax.plot([hours[id(p)] for p in front], [total[id(p)] for p in front], "-", c="0.25", lw=1.2, zorder=2,
                label="Pareto front (no offer is both faster and cheaper)")
        ax.scatter([hours[id(p)] for p in front], [total[id(p)] for p in front], s=70, zorder=3,
                   c=[COLOURS[p.offer.provider] for p in front], edgecolors="black", linewidths=1.0)
        import math

        xs = [math.log(hours[id(p)]) for p in known]
        right_edge = max(xs) - 0.25 * (max(xs) - min(xs))
        for i, p in enumerate(front):
            o = p.offer
            leftward = math.log(hours[id(p)]) > right_edge
            accel = f"{o.accelerator_count}x {o.accelerator}" if o.accelerator else "CPU"
            text = (f"{o.instance_type} ({accel})\n{o.region}, {o.capacity.replace('_', '-')}: "
                    f"{_hours(hours[id(p)])}, {_money(total[id(p)])}")
            ax.annotate(text, (hours[id(p)], total[id(p)]), xytext=(-12 if leftward else 12, (48 if leftward else 12) + 26 * (i % 2)),
                        textcoords="offset points", fontsize=8.5, ha="right" if leftward else "left",
                        bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.7", "alpha": 0.9},
                        arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.8})
    best: dict[str, Plan] = {}
    for p in known:          # the cheapest-to-finish offer of each service, labelled too
        if p.offer.provider not in best or total[id(p)] < total[id(best[p.offer.provider])]:
            best[p.offer.provider] = p
    for p in best.values():
        if p in front:
            continue
        o = p.offer
        ax.scatter([hours[id(p)]], [total[id(p)]], s=60, zorder=3, c=COLOURS[o.provider], edgecolors="black",
                   linewidths=0.6, marker="D")
        ax.annotate(f"best on {NAMES[o.provider]}: {o.instance_type}\n{_hours(hours[id(p)])}, {_money(total[id(p)])}",
                    (hours[id(p)], total[id(p)]), xytext=(10, -24), textcoords="offset points", fontsize=8,
                    color="0.15", arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.7})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    if known and min(hours[id(p)] for p in known) >= 24:      # whole days read better than 208 d
        lo, hi = min(hours[id(p)] for p in known), max(hours[id(p)] for p in known)
        days = [d for d in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if lo / 1.5 <= d * 24 <= hi * 1.5]
        ax.xaxis.set_major_locator(FixedLocator([d * 24 for d in days]))
    else:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    for axis, fmt in ((ax.xaxis, _hours), (ax.yaxis, _money)):
        axis.set_major_formatter(FuncFormatter(fmt))
        axis.set_minor_formatter(NullFormatter())
    ax.tick_params(labelsize=9.5)
    ax.set_xlabel("estimated wall-clock time (log scale)", fontsize=11)
    ax.set_ylabel("estimated total cost, USD (log scale)", fontsize=11)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.set_title(f"Time vs cost to finish: {_describe(request)}", fontsize=13, loc="left", pad=12)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)
    w = request.workload
    notes = []
    if w is not None and w.hours is None:
        notes.append(f"Hours: effective {w.workload_class} throughput per accelerator and multi-device scaling "
                     f"fitted to MLPerf Training v3.0; A100 efficiency {w.efficiency:g} of peak.")
    elif w is not None:
        notes.append("Hours: given, the same on every offer.")
    notes.append(f"Prices per instance-hour from the catalog ({price_age([p.offer for p in known])}); "
                 "spot can be reclaimed (restarts not counted). Offers that cannot hold the job in memory are left out.")
    wrapped = "\n".join(textwrap.fill(n, 150) for n in notes)
    fig.text(0.01, 0.01, wrapped, fontsize=8.5, color="0.3", va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.03 + 0.025 * wrapped.count("\n"), 1, 1))
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return len(known), len(front)
