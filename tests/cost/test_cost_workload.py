"""The workload model against hand arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from cloudml import accelerators
from cloudml.cost import DEFAULT_EFFICIENCY, Workload, throughput
from cloudml.errors import ValidationError


def test_hours_given_are_the_same_everywhere():
    w = Workload(hours=24)
    assert w.estimate("V100", 1) == w.estimate("H100", 8, instance_count=4) == 24
    assert w.estimate(None, 0) == 24


FIT = json.loads((Path(__file__).resolve().parents[2] / "cloudml/cost/data/throughput_fit.json").read_text())
H100_T = FIT["speed"]["transformer"]["H100"]
INTER_T = FIT["inter"]["transformer"]


def test_tflop_uses_the_fitted_speed_devices_instances_and_efficiency():
    w = Workload(tflop=3.6e6, efficiency=0.5)
    # A100 is the anchor: 312 TFLOPS x 0.5 per device; 2 instances keep INTER_T of linear (one doubling of nodes)
    assert w.estimate("A100", 8) == pytest.approx(3.6e6 / (312 * 0.5 * 8) / 3600)
    assert w.estimate("A100", 8, instance_count=2) == pytest.approx(3.6e6 / (312 * 0.5 * 16 * INTER_T) / 3600)
    # H100: the measured factor over an A100 (about 3x for transformers), not the 3.17x peak ratio
    assert w.estimate("H100", 8) == pytest.approx(3.6e6 / (312 * 0.5 * H100_T * 8) / 3600)
    assert w.estimate(None, 0) is None


def test_workload_class_changes_the_measured_speedup_and_80gb_differs_from_40gb():
    t = Workload(tflop=1e6, workload_class="transformer")
    v = Workload(tflop=1e6, workload_class="vision")
    assert t.estimate("A100", 8) / t.estimate("H100", 8) == pytest.approx(H100_T)
    assert v.estimate("A100", 8) / v.estimate("H100", 8) == pytest.approx(FIT["speed"]["vision"]["H100"])
    assert 1.5 < FIT["speed"]["vision"]["H100"] < FIT["speed"]["transformer"]["H100"] < 989 / 312 + 0.01
    assert t.estimate("A100", 1) != t.estimate("A100-80GB", 1)
    with pytest.raises(ValidationError, match="workload_class"):
        Workload(tflop=1, workload_class="audio")


def test_unfitted_accelerators_use_peak_and_say_so():
    w = Workload(tflop=1e6)
    assert w.estimate("V100", 1) == pytest.approx(1e6 / (125 * 0.4) / 3600)       # below the A100: peak x efficiency
    factor, how = throughput.speed_factor("L4", "transformer")
    assert factor == pytest.approx(121 / 312) and "not in the MLPerf fit" in how


def test_full_training_of_7b_rules_out_single_small_gpus_with_the_memory_reason():
    w = Workload(params=7e9, tokens=1e11)
    for name, count in (("L4", 1), ("A10G", 1), ("T4", 1), ("A100", 1), ("H100", 1)):
        offer = SimpleNamespace(accelerator=name, accelerator_count=count,
                                accelerator_memory_gib=accelerators.ACCELERATORS[name].memory_gib)
        why = w.memory_misfit(offer)
        assert why and "does not fit in memory" in why and "7e+09 params x 16 B" in why, name
    eight = SimpleNamespace(accelerator="A100", accelerator_count=8, accelerator_memory_gib=40)
    assert w.memory_misfit(eight) is None                                   # 104 GiB state / 8 + activations fits
    assert Workload(params=7e9, tokens=1e11, bytes_per_param=2).memory_misfit(
        SimpleNamespace(accelerator="L4", accelerator_count=1, accelerator_memory_gib=24)) is None


def test_absurd_estimates_are_flagged():
    offer = SimpleNamespace(accelerator="T4", accelerator_count=1, accelerator_memory_gib=16)
    text = "\n".join(Workload(tflop=1e9).assumptions(offer))
    assert "WARNING" in text and "years on this offer" in text
    assert "under a minute" in "\n".join(Workload(tflop=1).assumptions(offer))


def test_params_times_tokens_is_six_nd():
    w = Workload(params=7e9, tokens=1e12)
    assert w.total_tflop == pytest.approx(6 * 7e9 * 1e12 / 1e12)
    assert w.efficiency == DEFAULT_EFFICIENCY == 0.4
    assert any("6 x 7e+09 params" in a for a in w.assumptions())


def test_step_time_scales_from_the_reference():
    w = Workload(step_time_s=0.9, steps=10_000, reference_accelerator="V100:8")
    # 9000 s on 8 x V100 (125 TFLOPS, unfitted: peak ratio 125/312); on 8 x A100: 9000 * 125 / 312 s
    assert w.estimate("V100", 8) == pytest.approx(2.5)
    assert w.estimate("A100", 8) == pytest.approx(9000 * 125 / 312 / 3600)
    assert w.estimate("H100", 8) == pytest.approx(9000 * 125 / (312 * H100_T) / 3600)
    bw = Workload(step_time_s=0.9, steps=10_000, reference_accelerator="V100:8", scale_by="bandwidth")
    assert bw.estimate("A100", 8) == pytest.approx(9000 * 900 / 1555 / 3600)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one way"),
    ({"hours": 1, "tflop": 5}, "exactly one way"),
    ({"params": 1e9}, "params and tokens go together"),
    ({"step_time_s": 1.0, "steps": 10}, "go together"),
    ({"hours": -1}, "must be a positive number"),
    ({"tflop": 1, "efficiency": 1.5}, "must be in"),
    ({"step_time_s": 1, "steps": 1, "reference_accelerator": "FOO"}, "unknown accelerator"),
])
def test_bad_workloads(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        Workload(**kwargs)


def test_assumptions_name_the_accelerator_source_and_scaling(fixed_catalog):
    offer = next(o for o in fixed_catalog.rows if o.accelerator == "A100")
    text = "\n".join(Workload(tflop=1e6).assumptions(offer, instance_count=2))
    assert "312 TFLOPS peak" in text and "NVIDIA A100 40GB datasheet" in text and "efficiency 0.4" in text
    assert "scaling over 16 devices (2 instance(s) x 8)" in text and "fitted per doubling" in text
