"""7. The time model against measured training results: MLPerf Training v3.0 systems held out of the fit.

``cloudml.cost.fit`` fits effective throughput per accelerator and workload class and the scaling efficiencies
to published MLPerf Training results, leaving out whole systems (``fit.HOLDOUT``: other submitters, sizes and
accelerators), then predicts those. One row per held-out result: predicted minutes beside the measured MLPerf
score (ratio = predicted / measured); one row per benchmark (geometric-mean ratio); and the error over all of them.
Budget: median absolute error of predicted/measured under 20%. Nothing here is timed.
"""

from __future__ import annotations

import math
import statistics

from benchmarks._harness import Check, Context, Figure
from cloudml.cost import fit

GROUP = "7 time model"
MEDIAN_ERROR_BUDGET = 0.20


def run(ctx: Context) -> list[Figure]:
    _params, comparisons = fit.held_out_comparison()
    figures: list[Figure] = []
    for c in comparisons:
        r = c.result
        figures.append(Figure(GROUP, f"held out: {r.benchmark} on {r.accelerators} x {r.accelerator} "
                                     f"({r.submitter} {r.system})", "min", [c.predicted],
                              "measured (MLPerf v3.0 score)", [r.minutes]))
    for bench in sorted({c.result.benchmark for c in comparisons}):
        ratios = [c.ratio for c in comparisons if c.result.benchmark == bench]
        geo = math.exp(statistics.fmean(math.log(x) for x in ratios))
        figures.append(Figure(GROUP, f"{bench}: predicted/measured over {len(ratios)} held-out system(s)", "x",
                              ratios, note=f"geometric mean {geo:.2f}"))
    s = fit.summary(comparisons)
    errors = [abs(c.ratio - 1) * 100 for c in comparisons]
    peak = fit.peak_model_comparison()
    peak_errors = [abs(c.ratio - 1) * 100 for c in peak]
    figures.append(Figure(GROUP, f"error |predicted/measured - 1| over {s['held_out']} held-out results", "%", errors,
                          "the peak-TFLOPS model (linear scaling)", peak_errors, budget="< 20% median",
                          checks=[Check(f"median {s['median_abs_error'] * 100:.1f}% vs < 20%",
                                        s["median_abs_error"] < MEDIAN_ERROR_BUDGET)],
                          note=f"worst {s['max_abs_error'] * 100:.0f}% (peak model: {max(peak_errors):.0f}%), "
                               f"geometric-mean ratio {s['geomean_ratio']:.2f}; fitted on "
                               f"{len(fit.load_results()) - s['held_out']} results"))
    return figures
