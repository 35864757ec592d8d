"""cloudml's benchmarks: every figure beside its baseline, measured in the same run, with its budget.

    python -m benchmarks                       # everything (about 5 minutes on 2 cores); writes benchmarks/results.json
    python -m benchmarks --quick               # fewer repeats (about 2 minutes)
    python -m benchmarks --only import,bundle  # a subset: import, planning, bundle, upload, local, memory,
                                               # mlperf, concurrency, sparse
    python -m benchmarks --markdown            # the README table of the last results.json (measures nothing)
    tox -e bench                               # the same as the first line, in tox's environment

Not a test: pytest never collects it. Exit status 1 when a budget is MISSED or a figure is NOT MEASURED.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import ROOT, Context, Figure, from_json, machine, markdown_table, text_table

MODULES = {  # --only name -> module, in the order
    "import": "benchmarks.bench_import",
    "planning": "benchmarks.bench_planning",
    "bundle": "benchmarks.bench_bundle",
    "upload": "benchmarks.bench_upload",
    "local": "benchmarks.bench_local",
    "memory": "benchmarks.bench_memory",
    "mlperf": "benchmarks.bench_mlperf",
    "concurrency": "benchmarks.bench_concurrency",
    "sparse": "benchmarks.bench_sparse",
}
ALIASES = {"timemodel": "mlperf", "cost": "planning", "startup": "import", "cli": "import", "rss": "memory", "refit": "bundle"}
RESULTS = ROOT / "benchmarks" / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated: " + ",".join(MODULES))
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON (default: %(default)s)")
    parser.add_argument("--markdown", action="store_true", help="print the table of --output as markdown and exit")
    args = parser.parse_args(argv)

    if args.markdown:
        data = json.loads(args.output.read_text())
        m = data["machine"]
        print(f"Machine: {m['cpus']} x {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']}, "
              f"{m['date']}{' (--quick)' if data['quick'] else ''}; load average at start "
              f"{', '.join(map(str, m['load_average_at_start']))}.\n")
        print(markdown_table(data["figures"]))
        notes = [f for f in map(from_json, data["figures"]) if f.note]
        if notes:
            print("\nNotes:\n" + "\n".join(f"- {f.group} {f.name}: {f.note}" for f in notes))
        return 0

    names = list(MODULES)
    if args.only:
        names = []
        for raw in args.only.split(","):
            name = ALIASES.get(raw.strip(), raw.strip())
            if name not in MODULES:
                parser.error(f"unknown benchmark {raw!r}; choose from {', '.join(MODULES)}")
            names.append(name)
    ctx = Context(quick=args.quick)
    info = machine()
    print(f"machine: {info['cpus']} x {info['cpu_model']}, {info['memory_gib']} GiB, Python {info['python']}, "
          f"{info['date']}, load {info['load_average_at_start']}", flush=True)
    figures: list[Figure] = []
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        for name in names:
            print(f"[{name}] ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                figures += importlib.import_module(MODULES[name]).run(ctx)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc()
                figures.append(Figure(group=name, name=f"{name} benchmark", unit="s", samples=None,
                                      note=f"not measured: the benchmark failed: {exc!r}"))
            timings[name] = round(time.monotonic() - t0, 1)
            print(f"[{name}] done in {timings[name]:.0f} s", file=sys.stderr, flush=True)
    finally:
        ctx.cleanup()
    print()
    print(text_table(figures))
    out = {"machine": info, "quick": args.quick, "only": names, "seconds": round(time.monotonic() - started, 1),
           "seconds_per_benchmark": timings, "figures": [f.to_json() for f in figures]}
    args.output.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {args.output} ({out['seconds']:.0f} s)")
    bad = [f for f in figures if f.result.startswith(("MISSED", "NOT MEASURED"))]
    if bad:
        print(f"{len(bad)} figure(s) missed a budget or were not measured: "
              + "; ".join(f"{f.group} {f.name}" for f in bad))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
