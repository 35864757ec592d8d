"""The workload model against hand arithmetic."""

from __future__ import annotations

import pytest

from cloudml.cost import DEFAULT_EFFICIENCY, Workload
from cloudml.errors import ValidationError


def test_hours_given_are_the_same_everywhere():
    w = Workload(hours=24)
    assert w.estimate("V100", 1) == w.estimate("H100", 8, instance_count=4) == 24
    assert w.estimate(None, 0) == 24


def test_tflop_scales_with_peak_devices_instances_and_efficiency():
    w = Workload(tflop=3.6e6, efficiency=0.5)
    # 3.6e6 TFLOP / (312 TFLOPS x 8 x 2 instances x 0.5) / 3600 s/h
    assert w.estimate("A100", 8, instance_count=2) == pytest.approx(3.6e6 / (312 * 16 * 0.5) / 3600)
    assert w.estimate("H100", 8) == pytest.approx(3.6e6 / (989 * 8 * 0.5) / 3600)
    assert w.estimate(None, 0) is None


def test_params_times_tokens_is_six_nd():
    w = Workload(params=7e9, tokens=1e12)
    assert w.total_tflop == pytest.approx(6 * 7e9 * 1e12 / 1e12)
    assert w.efficiency == DEFAULT_EFFICIENCY == 0.4
    assert any("6 x 7e+09 params" in a for a in w.assumptions())


def test_step_time_scales_from_the_reference():
    w = Workload(step_time_s=0.9, steps=10_000, reference_accelerator="V100:8")
    # 9000 s on 8 x 125 TFLOPS; on 8 x 312: 9000 * 1000 / 2496 s
    assert w.estimate("V100", 8) == pytest.approx(2.5)
    assert w.estimate("A100", 8) == pytest.approx(9000 * 1000 / 2496 / 3600)
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
    assert "312 TFLOPS peak" in text and "NVIDIA A100 40GB datasheet" in text
    assert "linear scaling over 16 devices" in text and "efficiency 0.4" in text
