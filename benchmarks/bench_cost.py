"""Cost-model benchmarks: planning over the catalog and the CLI's cold start.

    /work/main/.venv/bin/python benchmarks/bench_cost.py [--repeat 200] [--cli-runs 15]

Measures (min / median / max, wall clock):
- ``plan()`` over the full bundled catalog for three requests (budget: median under 50 ms), and over 10x
  and 100x synthetic catalogs (the bundled rows copied into made-up regions; informational);
- building the catalog from CSV (parse + validate, what the first ``load_catalog()`` in a process pays);
- ``python -m cloudml cost compare --accelerator A100:8 --hours 24 --spot`` as a fresh process, table and JSON
  output, against ``python -c pass`` (budget: under 0.3 s).
Prints a table with PASS/FAIL per budget and writes ``benchmarks/results_cost.json``. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloudml.cost import PlanRequest, Workload, plan  # noqa: E402
from cloudml.cost.catalog import BUNDLED, Catalog, build, read_csv  # noqa: E402

PLAN_BUDGET_S = 0.050
CLI_BUDGET_S = 0.300
REQUESTS = {
    "compare A100:8 hours=24": PlanRequest(accelerator="A100:8", workload=Workload(hours=24)),
    "plan any GPU>=40GiB to-finish": PlanRequest(min_accelerator_memory_gib=40, spot=None,
                                                 objective="cheapest-to-finish", workload=Workload(tflop=3.2e6)),
    "fastest-within-budget all": PlanRequest(spot=None, objective="fastest-within-budget", max_total_usd=5000,
                                             workload=Workload(params=1e9, tokens=2e10)),
}


def stats(samples: list[float]) -> dict[str, float]:
    return {"min": min(samples), "median": statistics.median(samples), "max": max(samples), "n": len(samples)}


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def synthetic(rows: list[dict[str, str]], factor: int) -> Catalog:
    copies = [dict(r, region=f"{r['region']}-syn{i}" if i else r["region"]) for i in range(factor) for r in rows]
    return build([("synthetic", copies)])


def cli_runs(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--cli-runs", type=int, default=15)
    args = parser.parse_args()

    rows = read_csv(BUNDLED)
    results: dict[str, dict] = {}
    checks: list[tuple[str, dict[str, float], float | None]] = []

    results["build catalog from CSV"] = stats(timed(lambda: build([("bundled", read_csv(BUNDLED))]), 50))
    checks.append(("build catalog from CSV", results["build catalog from CSV"], None))
    for factor in (1, 10, 100):
        catalog = build([("bundled", rows)]) if factor == 1 else synthetic(rows, factor)
        for name, request in REQUESTS.items():
            label = f"plan x{factor} ({len(catalog.rows)} rows): {name}"
            repeat = args.repeat if factor < 100 else max(10, args.repeat // 10)
            results[label] = stats(timed(lambda c=catalog, r=request: plan(r, c), repeat))
            checks.append((label, results[label], PLAN_BUDGET_S if factor == 1 else None))

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, XDG_CACHE_HOME=cache, PYTHONPATH=str(ROOT))
        env.pop("CLOUDML_CATALOG", None)
        compare = ["-m", "cloudml", "cost", "compare", "--accelerator", "A100:8", "--hours", "24", "--spot"]
        cli_runs(compare, 2, env)                                   # warm the OS file cache and .pyc files
        for label, argv, budget in (
            ("python -c pass", ["-c", "pass"], None),
            ("cloudml --help", ["-m", "cloudml", "--help"], None),
            ("cloudml cost compare (table)", compare, CLI_BUDGET_S),
            ("cloudml cost compare (json)", [*compare, "--format", "json"], CLI_BUDGET_S),
        ):
            results[label] = stats(cli_runs(argv, args.cli_runs, env))
            checks.append((label, results[label], budget))
    base = results["python -c pass"]["median"]

    width = max(len(c[0]) for c in checks)
    print(f"{'measurement'.ljust(width)}  {'min ms':>8} {'median ms':>10} {'max ms':>8}  budget")
    failed = False
    verdicts = {}
    for label, s, budget in checks:
        verdict = ""
        if budget is not None:
            ok = s["median"] < budget
            failed |= not ok
            verdict = f"{'PASS' if ok else 'FAIL'} (< {budget * 1000:.0f} ms)"
            verdicts[label] = verdict
        print(f"{label.ljust(width)}  {s['min'] * 1e3:8.2f} {s['median'] * 1e3:10.2f} {s['max'] * 1e3:8.2f}  {verdict}")
    compare_median = results["cloudml cost compare (table)"]["median"]
    print(f"compare over python -c pass: +{(compare_median - base) * 1e3:.0f} ms (median)")

    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
           "budgets_s": {"plan_full_catalog": PLAN_BUDGET_S, "cli_cold_start": CLI_BUDGET_S},
           "results_s": results, "verdicts": verdicts,
           "compare_over_python_startup_s": compare_median - base, "catalog_rows": len(rows)}
    (ROOT / "benchmarks" / "results_cost.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {ROOT / 'benchmarks' / 'results_cost.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
