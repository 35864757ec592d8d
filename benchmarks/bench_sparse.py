"""8. Bundling a 3 GB (sparse) file: peak memory (issue 14).

``packaging.build`` of a project holding one 3 GB sparse file (all zeros, no disk used), in a fresh interpreter
that reports its own peak RSS (``VmHWM``) at exit, beside ``python -c pass`` reporting the same way; the wall
time beside ``tar czf`` of the same tree (gzip -6, same output disk). Budget: peak RSS under 300 MB (bundling
used to hold the whole file and the whole archive in memory: 3.2 GB). Both runs once: reading and compressing
3 GB takes tens of seconds each.
"""

from __future__ import annotations

import subprocess
import textwrap
import time

from benchmarks._harness import Check, Context, Figure, log
from benchmarks.bench_memory import REPORT, self_reported_peak

GROUP = "8 bundling a 3 GB file"
SIZE = 3 * 1024**3
DRIVER = REPORT + textwrap.dedent('''
    import sys, time
    from cloudml import packaging
    t0 = time.perf_counter()
    bundle = packaging.build(sys.argv[1], sys.argv[2], entry_point="train.py")
    print("seconds", time.perf_counter() - t0, "size", bundle.size, flush=True)
''')


def run(ctx: Context) -> list[Figure]:
    work = ctx.tempdir("sparse")
    src = work / "project"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    with open(src / "weights.bin", "wb") as f:
        f.truncate(SIZE)
    (work / "driver.py").write_text(DRIVER)
    env = ctx.env()
    log("packaging.build of a 3 GB sparse file (one run)")
    t0 = time.perf_counter()
    peak = self_reported_peak([ctx.python, str(work / "driver.py"), str(src), str(work / "out")], env)
    seconds = time.perf_counter() - t0
    floor = self_reported_peak([ctx.python, "-c", REPORT], env)
    log("tar czf of the same tree (one run)")
    t0 = time.perf_counter()
    subprocess.run(["tar", "czf", str(work / "tar.tgz"), "-C", str(src), "."], check=True, timeout=1800)
    tar_seconds = time.perf_counter() - t0
    return [
        Figure(GROUP, "peak RSS: packaging.build of a 3 GB sparse file", "bytes", [peak],
               "python -c pass (+ the report)", [floor], budget="< 300 MB peak RSS",
               checks=[Check(f"{peak / 1e6:.0f} MB vs < 300 MB", peak < 300e6)],
               note="the file is streamed in 1 MiB chunks into a temporary archive on disk"),
        Figure(GROUP, "wall time: packaging.build of a 3 GB sparse file", "s", [seconds],
               "tar czf (gzip -6)", [tar_seconds], note="includes the interpreter start and the whole-file secret scan"),
    ]
