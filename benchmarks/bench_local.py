"""5. The local provider: how long until the user's script runs, and what serving adds to a prediction.

- ``Estimator(provider="local").fit()`` of a small project whose ``train.py`` prints ``time.time()`` as its
  first statement: the time from calling ``fit()`` to that line (bundle, copy, extract, supervisor, launcher,
  user process), against ``python train.py`` started directly (``Popen`` to the same line). Runs interleaved,
  after one warm-up each. Budget: under 1 s. The whole ``fit()`` call (until it returns with the model
  packed) is shown beside the whole direct run.
- the deployed local endpoint (``Estimator.deploy()``; the user's ``inference.py`` behind cloudml's serving
  adapter in its own process on 127.0.0.1), called with ``Endpoint.predict`` (JSON over one kept-alive HTTP
  connection, as a user calls it) against calling the same ``predict_fn`` on the same model in-process.
  Rounds of sequential requests; each round gives a p50, a p99 and requests/s, the figures show min / median /
  max over rounds. Budget: p50 added by the endpoint under 2 ms.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import time
from typing import Any

from benchmarks._harness import Check, Context, Figure, log
from benchmarks.bench_bundle import project

GROUP = "5 local provider"
MARK = "cloudml-bench-first-line "
PAYLOAD = {"instances": [[0.1 * i for i in range(16)]]}


def first_line_time(lines: list[str]) -> float:
    for line in lines:
        if MARK in line:
            return float(line.split(MARK, 1)[1].split()[0])
    raise RuntimeError("the training script's first line is not in its output: " + " | ".join(lines[-5:]))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(ctx: Context) -> list[Figure]:
    from cloudml import Estimator
    from cloudml.packaging import safe_extract

    work = ctx.tempdir("local")
    src = project(work / "project")
    est = Estimator("train.py", src, provider="local", provider_options={"root": str(work / "root")})
    env = ctx.env(CLOUDML_MODEL_DIR=str(work / "direct-model"))
    times: dict[str, list[float]] = {"fit_first": [], "fit_total": [], "direct_first": [], "direct_total": []}

    def with_fit(record: bool) -> None:
        start = time.time()
        job = est.fit(logs=False)
        total = time.time() - start
        first = first_line_time(est.provider.read_logs(job.name)[0]) - start
        if record:
            times["fit_first"].append(first)
            times["fit_total"].append(total)

    def direct(record: bool) -> None:
        start = time.time()
        proc = subprocess.Popen([ctx.python, "train.py"], cwd=src, env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = first_line_time([proc.stdout.readline()]) - start
        proc.stdout.read()
        proc.wait(timeout=60)
        total = time.time() - start
        if record:
            times["direct_first"].append(first)
            times["direct_total"].append(total)

    runs = ctx.repeats(8, 3)
    log(f"fit() vs python train.py, {runs} runs each")
    with_fit(False)
    direct(False)
    for _ in range(runs):
        with_fit(True)
        direct(True)
    first_median = statistics.median(times["fit_first"])
    figures = [
        Figure(GROUP, "fit() called -> first line of train.py", "s", times["fit_first"],
               "python train.py -> its first line", times["direct_first"], budget="< 1 s",
               checks=[Check(f"{first_median * 1e3:.0f} ms vs < 1 s", first_median < 1.0)]),
        Figure(GROUP, "fit() whole call (returns with model.tar.gz)", "s", times["fit_total"],
               "python train.py, whole run", times["direct_total"],
               note="fit() polls the job's state every 50 ms at first"),
    ]

    # -- the endpoint ----------------------------------------------------------------------------------------
    model_dir = work / "model"
    safe_extract(est.latest_job.model_uri, model_dir)  # type: ignore[union-attr,arg-type]
    spec = importlib.util.spec_from_file_location("bench_inference", src / "inference.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights = module.model_fn(str(model_dir))
    rounds, per_round = ctx.repeats(6, 3), ctx.repeats(500, 200)
    stats: dict[str, dict[str, list[float]]] = {k: {"p50": [], "p99": [], "rps": []} for k in ("http", "inproc")}
    log(f"endpoint vs in-process predict_fn: {rounds} rounds x {per_round} requests")
    with est.deploy() as endpoint:
        expected = module.predict_fn(PAYLOAD["instances"], weights)
        got = endpoint.predict(PAYLOAD)
        if got != {"predictions": expected}:
            raise RuntimeError(f"the endpoint answered {got!r}, expected predictions {expected!r}")
        for _ in range(50):
            endpoint.predict(PAYLOAD)
        for _ in range(rounds):
            for key, call in (("http", lambda: endpoint.predict(PAYLOAD)),
                              ("inproc", lambda: module.predict_fn(PAYLOAD["instances"], weights))):
                lat = []
                t0 = time.perf_counter()
                for _ in range(per_round):
                    start = time.perf_counter()
                    call()
                    lat.append(time.perf_counter() - start)
                elapsed = time.perf_counter() - t0
                stats[key]["p50"].append(percentile(lat, 0.5))
                stats[key]["p99"].append(percentile(lat, 0.99))
                stats[key]["rps"].append(per_round / elapsed)
    added = statistics.median(stats["http"]["p50"]) - statistics.median(stats["inproc"]["p50"])
    base = "predict_fn in-process"
    figures += [
        Figure(GROUP, "local endpoint p50 latency (Endpoint.predict)", "s", stats["http"]["p50"],
               f"{base}, p50", stats["inproc"]["p50"], budget="< 2 ms p50 added",
               checks=[Check(f"{added * 1e3:.2f} ms added vs < 2 ms", added < 0.002)],
               note=f"p50 added by JSON + HTTP + serving adapter: {added * 1e3:.2f} ms"),
        Figure(GROUP, "local endpoint p99 latency (Endpoint.predict)", "s", stats["http"]["p99"],
               f"{base}, p99", stats["inproc"]["p99"]),
        Figure(GROUP, "local endpoint requests/s (sequential, one connection)", "req/s", stats["http"]["rps"],
               f"{base}, calls/s", stats["inproc"]["rps"], higher_is_better=True),
    ]
    return figures
