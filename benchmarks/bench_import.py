"""1. Import and CLI cold start, each a fresh interpreter, against the floor (``python -c pass``) and against
importing the SDKs cloudml wraps.

Every command runs once untimed (``.pyc`` files written, files in the OS cache, the validated catalog stored in
the cache folder, a fresh temp dir), then all commands are timed round-robin so background load falls on each
alike. Budget (issue 16, with the full multi-region catalog): ``cloudml cost compare`` median at or under 100 ms;
and (issue 9) within 3x of the floor.
"""

from __future__ import annotations

import statistics

from benchmarks._harness import Check, Context, Figure, interleaved, log, run_quiet

GROUP = "1 start-up"
CLI_BUDGET_S = 0.100
FLOOR_FACTOR = 3.0
COMPARE = ["-m", "cloudml", "cost", "compare", "--accelerator", "A100:8", "--hours", "24", "--spot"]
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "import cloudml": ["-c", "import cloudml"],
    "import boto3": ["-c", "import boto3"],
    "from google.cloud import aiplatform_v1": ["-c", "from google.cloud import aiplatform_v1"],
    "import azure.ai.ml": ["-c", "import azure.ai.ml"],
    "cloudml cost compare (table)": COMPARE,
    "cloudml cost compare (json)": [*COMPARE, "--format", "json"],
}


def run(ctx: Context) -> list[Figure]:
    cache = ctx.tempdir("xdg-cache")
    env = ctx.env(XDG_CACHE_HOME=str(cache), CLOUDML_CACHE_DIR=str(cache / "cloudml"))
    env.pop("CLOUDML_CATALOG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # the warm-up run writes the .pyc files the docstring speaks of
    runs = ctx.repeats(15, 5)
    log(f"{len(COMMANDS)} commands x {runs} fresh interpreters each")
    fns = {label: (lambda argv=argv: run_quiet([ctx.python, *argv], env=env, cwd=ctx.root))
           for label, argv in COMMANDS.items()}
    t = interleaved(fns, runs, warmup=1)
    floor = t["python -c pass"]
    floor_median = statistics.median(floor)
    figures = []
    for label in ("cloudml cost compare (table)", "cloudml cost compare (json)"):
        samples = t[label]
        median = statistics.median(samples)
        figures.append(Figure(
            GROUP, f"{label} cold start", "s", samples, "python -c pass", floor,
            checks=[Check(f"{median * 1e3:.0f} ms vs <= 100 ms", median <= CLI_BUDGET_S),
                    Check(f"{median / floor_median:.1f}x floor vs <= 3x", median <= FLOOR_FACTOR * floor_median)],
            budget="<= 100 ms and <= 3x floor",
            note=f"`python {' '.join(COMMANDS[label])}`" if "table" in label else ""))
    figures.append(Figure(GROUP, "import cloudml", "s", t["import cloudml"], "python -c pass", floor,
                          note="SDKs are imported lazily, on a provider's first use"))
    for sdk in ("import boto3", "from google.cloud import aiplatform_v1", "import azure.ai.ml"):
        figures.append(Figure(GROUP, "import cloudml", "s", t["import cloudml"], sdk, t[sdk]))
    return figures
