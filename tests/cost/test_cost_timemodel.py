"""The time model's data and fit: published MLPerf results with provenance, the fitted file matches a refit, the
held-out comparison the benchmarks print, and the measured (not peak) H100/A100 ratios."""

from __future__ import annotations

import json

from benchmarks import bench_mlperf
from benchmarks._harness import Context
from cloudml.cost import fit, throughput


def test_every_result_has_provenance_and_a_plausible_score():
    results = fit.load_results()
    assert len(results) >= 100 and {r.accelerator for r in results} == {"A100", "A100-80GB", "H100"}
    assert {r.workload_class for r in results} == {"transformer", "vision", "other"}
    for r in results:
        assert r.source.startswith("mlcommons/training_results_v3.0:") and "@" in r.source, r
        assert 0.1 < r.minutes < 300 and r.accelerators == r.nodes * r.per_node


def test_the_fitted_file_is_what_the_data_gives():
    assert json.loads(fit.FITTED.read_text()) == json.loads(json.dumps(fit.fitted_parameters(), sort_keys=True))


def test_measured_speedups_are_not_the_peak_ratio():
    speed = throughput.fitted()["speed"]
    assert 1.5 < speed["vision"]["H100"] < 2.3 < speed["transformer"]["H100"] < 989 / 312
    factor, how = throughput.speed_factor("H100", "vision")
    assert factor == speed["vision"]["H100"] and "fitted to MLPerf Training" in how
    assert all(0 < v <= 1 for v in (*throughput.fitted()["inter"].values(),))


def test_the_benchmark_prints_the_held_out_comparison_with_its_error():
    figures = bench_mlperf.run(Context(quick=True))
    held = [f for f in figures if f.name.startswith("held out:")]
    assert len(held) == len([r for r in fit.load_results() if r.held_out]) >= 20
    assert all(f.baseline_name.startswith("measured") and f.ratio for f in held)
    (error,) = [f for f in figures if f.name.startswith("error |predicted/measured - 1|")]
    assert error.result == "PASS" and error.baseline_name.startswith("the peak-TFLOPS model")
    assert error.median < error.baseline_median            # the fit beats peak x efficiency on unseen systems
