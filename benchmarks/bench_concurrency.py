"""7. The local endpoint under concurrent clients (issue 14).

A deployed local endpoint (``Estimator.deploy()``: the user's ``inference.py`` behind cloudml's serving adapter in
its own process on 127.0.0.1) is called by 64 client threads at once, each sending 500 ``Endpoint.predict``
requests through ONE shared ``Endpoint`` (each thread gets its own kept-alive connection), every answer checked
against the input that thread sent. Figures: errors and answers meant for another caller (budget: 0), the p50 and
p99 latency per request under that load and the requests/s, beside the same ``predict_fn`` called in-process
by the same 64 threads. Then, with the load gone, one client's p50 against the in-process p50 (the latency the
endpoint adds; budget: under 1 ms). The client threads share the driver's interpreter (and its GIL) and the
server runs on the same 2 cores, so the latencies under load include queueing on both sides.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks._harness import Check, Context, Figure, log
from benchmarks.bench_local import percentile

GROUP = "7 concurrency"
CLIENTS = 64
INFERENCE = '''
def model_fn(model_dir):
    return lambda rows: [[2 * row[0] + 1] for row in rows]


def predict_fn(data, model):
    return model(data)
'''
TRAIN = '''
import os
d = os.environ["CLOUDML_MODEL_DIR"]
os.makedirs(d, exist_ok=True)
open(os.path.join(d, "weights.txt"), "w").write("2 1")
'''


def _load(call: Any, per_client: int) -> tuple[list[float], int, int, float]:
    """Run ``call(x)`` from CLIENTS threads, ``per_client`` times each: latencies, errors, wrong answers, seconds."""
    lat: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors = [0] * CLIENTS
    wrong = [0] * CLIENTS
    start_line = threading.Barrier(CLIENTS)

    def client(i: int) -> None:
        start_line.wait()
        for j in range(per_client):
            x = float(i * per_client + j)
            t0 = time.perf_counter()
            try:
                y = call(x)
            except Exception:  # noqa: BLE001 - counted
                errors[i] += 1
                continue
            lat[i].append(time.perf_counter() - t0)
            if y != 2 * x + 1:
                wrong[i] += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return [v for row in lat for v in row], sum(errors), sum(wrong), time.perf_counter() - t0


def run(ctx: Context) -> list[Figure]:
    from cloudml import Estimator

    work = ctx.tempdir("concurrency")
    src = work / "project"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    (src / "inference.py").write_text(INFERENCE)
    est = Estimator("train.py", src, provider="local", provider_options={"root": str(work / "root")})
    est.fit(logs=False)
    per_client = ctx.repeats(500, 100)
    namespace: dict[str, Any] = {}
    exec(INFERENCE, namespace)  # noqa: S102 - the same handlers, in-process, for the baseline
    model = namespace["model_fn"]("")
    log(f"{CLIENTS} clients x {per_client} requests, through one shared Endpoint")
    with est.deploy() as endpoint:
        def remote(x: float) -> float:
            return endpoint.predict({"instances": [[x]]})["predictions"][0][0]

        def local(x: float) -> float:
            return namespace["predict_fn"]([[x]], model)[0][0]

        remote(1.0)
        http_lat, errors, wrong, seconds = _load(remote, per_client)
        base_lat, _, _, base_seconds = _load(local, per_client)
        single = [[], []]  # one client, no load: what the endpoint adds
        for _ in range(ctx.repeats(5, 3)):
            for k, call in enumerate((remote, local)):
                lat = []
                for i in range(500):
                    t0 = time.perf_counter()
                    call(float(i))
                    lat.append(time.perf_counter() - t0)
                single[k].append(percentile(lat, 0.5))
    total = CLIENTS * per_client
    added = statistics.median(single[0]) - statistics.median(single[1])
    return [
        Figure(GROUP, f"{CLIENTS} clients x {per_client} requests: errors + crossed answers", "requests",
               [float(errors + wrong)], "requests sent", [float(total)], budget="0 errors",
               checks=[Check(f"{errors} errors, {wrong} crossed answers of {total}", errors == 0 and wrong == 0)]),
        Figure(GROUP, f"p50 latency under {CLIENTS} concurrent clients", "s", [percentile(http_lat, 0.5)],
               f"predict_fn in-process, {CLIENTS} threads, p50", [percentile(base_lat, 0.5)]),
        Figure(GROUP, f"p99 latency under {CLIENTS} concurrent clients", "s", [percentile(http_lat, 0.99)],
               f"predict_fn in-process, {CLIENTS} threads, p99", [percentile(base_lat, 0.99)]),
        Figure(GROUP, f"requests/s with {CLIENTS} concurrent clients", "req/s", [len(http_lat) / seconds],
               "predict_fn in-process, calls/s", [total / base_seconds], higher_is_better=True),
        Figure(GROUP, "p50 added by the endpoint (one client, after the load)", "s", single[0],
               "predict_fn in-process, p50", single[1], budget="< 1 ms p50 added",
               checks=[Check(f"{added * 1e3:.2f} ms added vs < 1 ms", added < 0.001)],
               note=f"JSON + HTTP + serving adapter add {added * 1e3:.2f} ms at p50"),
    ]
