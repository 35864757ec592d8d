"""The workload model: how many hours a job takes on an offer, with every assumption spelled out.

A workload is given one way:
- ``hours``: wall-clock hours, taken as the same on every offer (what SkyPilot and dstack assume);
- ``tflop``: total training compute in TFLOPs (1e12 floating-point operations);
- ``params`` + ``tokens``: a dense transformer; compute = 6 x params x tokens FLOPs (forward + backward,
  Kaplan et al. 2020 / Chinchilla's C = 6ND);
- ``step_time_s`` + ``steps`` + ``reference_accelerator``: a measured step time on a reference machine
  (``"V100:8"`` = one instance with 8 V100s); other offers scale by their peak throughput relative to it
  (or by memory bandwidth with ``scale_by="bandwidth"`` for memory-bound jobs).

Compute-derived hours = compute / (peak dense BF16/FP16 TFLOPS per device x devices x instance_count x
efficiency) / 3600. Peaks and bandwidths come from ``cloudml.accelerators`` (sources listed there).

``DEFAULT_EFFICIENCY = 0.4``: the fraction of peak a real training job sustains (model FLOPs utilisation).
Well-tuned large transformer runs report 0.35-0.55 MFU on A100/H100 (PaLM 46%, MT-NLG ~30-36%, Llama-style
runs ~40%); small or input-bound jobs reach less. Set ``efficiency`` from a measurement when you have one.
Invariants: scaling across devices and instances is taken as linear (said in the assumptions); a CPU-only offer
has no accelerator peak, so compute-driven estimates give None for it; step-time estimates cancel efficiency
(the same efficiency is assumed on the reference and the target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudml import accelerators
from cloudml.errors import ValidationError
from cloudml.spec import _positive_number

DEFAULT_EFFICIENCY = 0.4
SCALE_BY = ("flops", "bandwidth")
FORMS = ("give one of: hours; tflop; params and tokens; step_time_s, steps and reference_accelerator "
         "(e.g. --step-time 0.5 --steps 10000 --reference V100:8)")


@dataclass(frozen=True)
class Workload:
    hours: float | None = None
    tflop: float | None = None
    params: float | None = None
    tokens: float | None = None
    step_time_s: float | None = None
    steps: int | None = None
    reference_accelerator: str | None = None
    efficiency: float = DEFAULT_EFFICIENCY
    scale_by: str = "flops"

    def __post_init__(self) -> None:
        for name in ("hours", "tflop", "params", "tokens", "step_time_s", "steps", "efficiency"):
            _positive_number(getattr(self, name), f"workload.{name}")
        if self.efficiency > 1:
            raise ValidationError("workload.efficiency", f"must be in (0, 1], got {self.efficiency!r}",
                                  f"the fraction of peak throughput sustained; default {DEFAULT_EFFICIENCY}")
        if self.scale_by not in SCALE_BY:
            raise ValidationError("workload.scale_by", f"unknown {self.scale_by!r}", "one of: " + ", ".join(SCALE_BY))
        modes = [self.hours is not None, self.tflop is not None,
                 self.params is not None or self.tokens is not None,
                 any(v is not None for v in (self.step_time_s, self.steps, self.reference_accelerator))]
        if sum(modes) != 1:
            raise ValidationError("workload", "exactly one way of giving the workload is needed", FORMS)
        if modes[2] and (self.params is None or self.tokens is None):
            raise ValidationError("workload", "params and tokens go together", FORMS)
        if modes[3]:
            if self.step_time_s is None or self.steps is None or self.reference_accelerator is None:
                raise ValidationError("workload", "step_time_s, steps and reference_accelerator go together", FORMS)
            accelerators.parse(self.reference_accelerator, "workload.reference_accelerator")

    @property
    def mode(self) -> str:
        if self.hours is not None:
            return "hours"
        if self.step_time_s is not None:
            return "step-time"
        return "compute"

    @property
    def total_tflop(self) -> float | None:
        if self.tflop is not None:
            return self.tflop
        if self.params is not None and self.tokens is not None:
            return 6.0 * self.params * self.tokens / 1e12
        return None

    def _device_rate(self, accelerator: str, count: int) -> float:
        acc = accelerators.ACCELERATORS[accelerator]
        per_device = acc.bandwidth_gbs if self.scale_by == "bandwidth" else acc.peak_tflops
        return per_device * count

    def estimate(self, accelerator: str | None, count: int, instance_count: int = 1) -> float | None:
        """Hours on ``instance_count`` instances each with ``count`` x ``accelerator``; None when the model
        cannot say (a compute-given workload on a CPU-only offer)."""
        if self.hours is not None:
            return self.hours
        if accelerator is None or count < 1:
            return None
        devices_rate = self._device_rate(accelerator, count) * instance_count
        if self.step_time_s is not None:
            ref_name, ref_count = accelerators.parse(self.reference_accelerator or "")
            ref_seconds = self.step_time_s * (self.steps or 0)
            return ref_seconds * self._device_rate(ref_name, ref_count) / devices_rate / 3600.0
        tflop = self.total_tflop or 0.0
        return tflop / (devices_rate * self.efficiency) / 3600.0

    def memory_misfit(self, offer: Any) -> str | None:
        """Why ``offer`` cannot hold this job in accelerator memory, or None."""
        return None

    def hours_for(self, offer: Any, instance_count: int = 1) -> float | None:
        """``estimate`` for a catalog ``Offer``."""
        return self.estimate(offer.accelerator, offer.accelerator_count, instance_count)

    def assumptions(self, offer: Any = None, instance_count: int = 1) -> list[str]:
        """Human-readable assumptions behind ``hours_for(offer, instance_count)``."""
        out: list[str] = []
        if self.hours is not None:
            out.append(f"{self.hours:g} h wall clock given, taken as the same on every offer")
            return out
        if self.step_time_s is not None:
            ref_name, ref_count = accelerators.parse(self.reference_accelerator or "")
            basis = "memory bandwidth" if self.scale_by == "bandwidth" else "peak dense BF16/FP16 TFLOPS"
            out.append(f"{self.steps} steps x {self.step_time_s:g} s measured on {ref_count} x {ref_name}; "
                       f"other offers scaled by {basis}, same efficiency as the reference")
        else:
            if self.tflop is None:
                out.append(f"compute = 6 x {self.params:.3g} params x {self.tokens:.3g} tokens = "
                           f"{self.total_tflop:.3g} TFLOP (dense transformer, forward+backward)")
            else:
                out.append(f"compute = {self.tflop:.3g} TFLOP given")
            out.append(f"efficiency {self.efficiency:g} of peak (default {DEFAULT_EFFICIENCY}: typical MFU of "
                       "tuned transformer training)")
        if offer is not None and offer.accelerator:
            acc = accelerators.ACCELERATORS[offer.accelerator]
            rate = (f"{acc.bandwidth_gbs:g} GB/s" if self.scale_by == "bandwidth" and self.step_time_s is not None
                    else f"{acc.peak_tflops:g} TFLOPS peak")
            out.append(f"{offer.accelerator}: {rate} per device ({acc.source})")
            devices = offer.accelerator_count * instance_count
            if devices > 1:
                out.append(f"linear scaling over {devices} devices ({instance_count} instance(s) x "
                           f"{offer.accelerator_count}); real scaling is lower")
        elif offer is not None:
            out.append("CPU-only offer: no accelerator throughput, hours not estimated")
        return out
