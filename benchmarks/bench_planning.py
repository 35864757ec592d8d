"""2. The cost planner: ``plan()`` over the full bundled catalog, per call, and how it grows with catalog size.

- four requests (an exact accelerator count, a fixed accelerator, a memory floor ranked cheapest-to-finish,
  every offer ranked fastest-within-budget for a 1B-parameter model with the memory check) over the bundled
  multi-region catalog; the baseline is the least any planner must do, one pass over the same rows picking the
  cheapest (``min(rows, key=price)``). Budget (issue 16): median under 10 ms per call;
- the same requests over a 10x and a 100,000-offer synthetic catalog (the bundled rows copied into made-up
  regions), each beside the 1x figure so the ratio is the growth (linear in rows is 10x / ~180x);
- building the catalog from its CSV (parse + validate: what the first ``load_catalog()`` in a process pays),
  beside reading the CSV alone.
(This module replaces the standalone ``bench_cost.py``; its cold-start part is in ``bench_import``.)
"""

from __future__ import annotations

import statistics

from benchmarks._harness import Check, Context, Figure, log, timed
from cloudml.cost import PlanRequest, Workload, plan
from cloudml.cost.catalog import BUNDLED, Catalog, build, read_csv

GROUP = "2 planning"
PLAN_BUDGET_S = 0.010
SYNTHETIC_OFFERS = 100_000
REQUESTS = {
    "A100:1 exactly, 10 h": PlanRequest(accelerator="A100:1", workload=Workload(hours=10)),
    "A100:8, 24 h": PlanRequest(accelerator="A100:8", workload=Workload(hours=24)),
    "GPU >= 40 GiB, cheapest-to-finish": PlanRequest(min_accelerator_memory_gib=40, spot=None,
                                                     objective="cheapest-to-finish", workload=Workload(tflop=3.2e6)),
    "all offers, fastest-within-budget": PlanRequest(spot=None, objective="fastest-within-budget",
                                                     max_total_usd=5000, workload=Workload(params=1e9, tokens=2e10)),
}


def synthetic(rows: list[dict[str, str]], factor: int) -> Catalog:
    copies = [dict(r, region=f"{r['region']}-syn{i}" if i else r["region"]) for i in range(factor) for r in rows]
    return build([("synthetic", copies)])


def run(ctx: Context) -> list[Figure]:
    repeat = ctx.repeats(200, 50)
    rows = read_csv(BUNDLED)
    figures: list[Figure] = []
    full = build([("bundled", rows)])
    n = len(full.rows)
    floor = timed(lambda: min(full.rows, key=lambda o: o.price_usd_hour), repeat)
    at_1x: dict[str, list[float]] = {}
    for name, request in REQUESTS.items():
        samples = timed(lambda r=request: plan(r, full), repeat)
        at_1x[name] = samples
        median = statistics.median(samples)
        figures.append(Figure(GROUP, f"plan(), full catalog ({n} offers): {name}", "s", samples,
                              "one pass over the rows", floor, budget="< 10 ms median",
                              checks=[Check(f"{median * 1e3:.2f} ms vs < 10 ms", median < PLAN_BUDGET_S)]))
    big = -(-SYNTHETIC_OFFERS // n)          # copies of the validated rows: at least 100,000 offers
    for factor in (10, big):
        catalog = synthetic(rows, factor)
        label = f"{factor}x" if factor == 10 else f"{len(catalog.rows):,}-offer"
        log(f"{label} catalog: {len(catalog.rows)} offers")
        reps = repeat if factor == 10 else max(5, repeat // 20)
        for name, request in REQUESTS.items():
            samples = timed(lambda r=request, c=catalog: plan(r, c), reps)
            figures.append(Figure(GROUP, f"plan(), {label} catalog ({len(catalog.rows)} offers): {name}", "s",
                                  samples, f"the same at 1x ({n} offers)", at_1x[name],
                                  note="" if factor == 10 or name != next(iter(REQUESTS)) else
                                  f"ratio = growth over 1x: linear in rows would be 10x / {factor}x"))
    figures.append(Figure(GROUP, "build the catalog from CSV (parse + validate)", "s",
                          timed(lambda: build([("bundled", read_csv(BUNDLED))]), max(10, repeat // 4)),
                          "read the CSV only", timed(lambda: read_csv(BUNDLED), max(10, repeat // 4))))
    return figures
