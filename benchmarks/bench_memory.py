"""6. Peak resident memory (RSS) of a ``cloudml cost compare`` process and of a local ``fit()`` driver process.

Every process reports its own peak at exit (``VmHWM`` from ``/proc/self/status``, through ``atexit``): not
``wait4``'s ``ru_maxrss``, which after a (v)fork + exec also counts the parent's memory, and which would include
the job's processes for the driver.
- ``cloudml cost compare`` (``python -m cloudml`` run by ``runpy``), beside ``python -c pass``;
- a driver script that calls ``Estimator(provider="local").fit()`` (the driver alone, not the job's
  processes), beside the same driver running ``python train.py`` with ``subprocess.run`` instead.
Informational (no budget in issue 9).
"""

from __future__ import annotations

import subprocess
import textwrap

from benchmarks._harness import Context, Figure, log
from benchmarks.bench_bundle import project
from benchmarks.bench_import import COMPARE

GROUP = "6 memory"
REPORT = textwrap.dedent('''
    def peak():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print("peak-kib", line.split()[1], flush=True)
    import atexit
    atexit.register(peak)
''')
FIT_DRIVER = REPORT + textwrap.dedent('''
    import sys
    from cloudml import Estimator
    Estimator("train.py", sys.argv[1], provider="local", provider_options={"root": sys.argv[2]}).fit(logs=False)
''')
COMPARE_DRIVER = REPORT + textwrap.dedent('''
    import runpy, sys
    sys.argv = ["cloudml", *sys.argv[1:]]
    runpy.run_module("cloudml", run_name="__main__", alter_sys=True)
''')
PLAIN_DRIVER = REPORT + textwrap.dedent('''
    import subprocess, sys
    subprocess.run([sys.executable, "train.py"], cwd=sys.argv[1], check=True, stdout=subprocess.DEVNULL)
''')


def self_reported_peak(argv: list[str], env: dict[str, str]) -> float:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}: {proc.stderr[-500:]}")
    kib = [line.split()[1] for line in out.splitlines() if line.startswith("peak-kib ")]
    if not kib:
        raise RuntimeError(f"{argv} reported no peak: {out[-500:]}")
    return float(kib[0]) * 1024


def run(ctx: Context) -> list[Figure]:
    work = ctx.tempdir("memory")
    env = ctx.env(XDG_CACHE_HOME=str(work / "cache"), CLOUDML_MODEL_DIR=str(work / "direct-model"),
                  CLOUDML_CACHE_DIR=str(work / "bundles"))
    src = project(work / "project")
    (work / "fit_driver.py").write_text(FIT_DRIVER)
    (work / "plain_driver.py").write_text(PLAIN_DRIVER)
    (work / "compare_driver.py").write_text(COMPARE_DRIVER)
    runs = ctx.repeats(5, 3)
    log(f"{runs} runs each")
    peaks: dict[str, list[float]] = {"compare": [], "pass": [], "fit": [], "plain": []}
    for _ in range(runs):
        peaks["compare"].append(self_reported_peak([ctx.python, str(work / "compare_driver.py"), *COMPARE[2:]], env))
        peaks["pass"].append(self_reported_peak([ctx.python, "-c", REPORT], env))
        peaks["fit"].append(self_reported_peak([ctx.python, str(work / "fit_driver.py"), str(src),
                                                str(work / "root")], env))
        peaks["plain"].append(self_reported_peak([ctx.python, str(work / "plain_driver.py"), str(src)], env))
    return [
        Figure(GROUP, "peak RSS: cloudml cost compare", "bytes", peaks["compare"], "python -c pass (+ the report)", peaks["pass"]),
        Figure(GROUP, "peak RSS: local fit() driver process", "bytes", peaks["fit"],
               "driver running python train.py", peaks["plain"],
               note="the driver only (VmHWM); the job runs in its own processes"),
    ]
