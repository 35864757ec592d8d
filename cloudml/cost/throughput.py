"""Effective training throughput per accelerator and workload class, and multi-device scaling, from the MLPerf fit.

Numbers come from ``data/throughput_fit.json`` (written by ``python -m cloudml.cost.fit`` from published MLPerf
Training v3.0 results; see that module for the data, the model and the held-out test). Read once, lazily.

Sustained TFLOPS of one device of kind ``a`` for class ``c`` at a given ``efficiency``:
- A100 40 GB, A100 80 GB, H100 SXM (fitted): ``efficiency x 312 x speed[c][a]`` - the A100's peak dense BF16 is the
  anchor (``efficiency`` is the A100's model-FLOPs utilisation, 0.4 by default) and ``speed`` the measured
  time-to-train ratio against an A100 on the same benchmarks;
- H200: the H100's factor (same compute die; its extra memory bandwidth is not credited: no fitted result);
  H100 NVL: the H100's factor x 835/989 (peak ratio of the PCIe part);
- every other accelerator (not in the fit): ``efficiency x peak``, and for parts whose peak is above the A100's,
  also x the H100's "measured / peak" ratio for that class (new parts reach less of their peak: H100 transformer
  training measured ~3.07x an A100 against a 3.17x peak ratio, vision 1.93x);
- scaling over ``d`` devices per instance and ``k`` instances: ``intra[c] ** log2(d) x inter[c] ** log2(k)``, the
  fitted efficiency kept per doubling (capped at 1: never superlinear).
"""

from __future__ import annotations

import json
import math
from functools import cache, lru_cache
from pathlib import Path

from cloudml import accelerators

FITTED_FILE = Path(__file__).with_name("data") / "throughput_fit.json"
CLASSES = ("transformer", "vision", "other")
ANCHOR = "A100"


@lru_cache(maxsize=1)
def fitted() -> dict:
    return json.loads(FITTED_FILE.read_text(encoding="utf-8"))


@cache
def speed_factor(accelerator: str, workload_class: str) -> tuple[float, str]:
    """(sustained throughput relative to an A100 40 GB at the same efficiency, how it was obtained)."""
    speed = fitted()["speed"][workload_class]
    anchor_peak = accelerators.ACCELERATORS[ANCHOR].peak_tflops
    h100_peak = accelerators.ACCELERATORS["H100"].peak_tflops
    if accelerator in speed:
        return speed[accelerator], f"fitted to MLPerf Training: {speed[accelerator]:.2f}x an A100 ({workload_class})"
    if accelerator == "H200":
        return speed["H100"], f"H100's fitted {speed['H100']:.2f}x an A100 ({workload_class}; H200 not in the fit)"
    if accelerator == "H100-NVL":
        f = speed["H100"] * accelerators.ACCELERATORS["H100-NVL"].peak_tflops / h100_peak
        return f, f"H100's fitted factor x 835/989 peak = {f:.2f}x an A100 (not in the fit)"
    peak = accelerators.ACCELERATORS[accelerator].peak_tflops
    ratio = peak / anchor_peak
    if peak > anchor_peak:
        derate = min(1.0, speed["H100"] / (h100_peak / anchor_peak))
        return ratio * derate, (f"not in the MLPerf fit: peak {peak:g} TFLOPS x the H100's measured/peak "
                                f"{derate:.2f} ({workload_class}) = {ratio * derate:.2f}x an A100")
    return ratio, f"not in the MLPerf fit: peak {peak:g} TFLOPS = {ratio:.2f}x an A100's"


@cache
def effective_tflops(accelerator: str, workload_class: str, efficiency: float) -> float:
    """Sustained TFLOPS of one device (see the module docstring)."""
    return accelerators.ACCELERATORS[ANCHOR].peak_tflops * efficiency * speed_factor(accelerator, workload_class)[0]


@cache
def scaling(devices_per_instance: int, instances: int, workload_class: str) -> float:
    """Fraction of linear throughput kept on ``devices_per_instance`` x ``instances`` devices."""
    fit = fitted()
    intra = min(1.0, fit["intra"][workload_class])
    inter = min(1.0, fit["inter"][workload_class])
    return intra ** math.log2(max(1, devices_per_instance)) * inter ** math.log2(max(1, instances))


def scaling_note(devices_per_instance: int, instances: int, workload_class: str) -> str:
    fit = fitted()
    intra = min(1.0, fit["intra"][workload_class])
    inter = min(1.0, fit["inter"][workload_class])
    total = devices_per_instance * instances
    return (f"scaling over {total} devices ({instances} instance(s) x {devices_per_instance}): "
            f"{scaling(devices_per_instance, instances, workload_class):.2f} of linear (fitted per doubling: "
            f"{intra:.2f} within an instance, {inter:.2f} across instances, {workload_class})")
