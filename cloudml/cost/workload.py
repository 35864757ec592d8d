"""The workload model: how many hours a job takes on an offer, whether it fits in memory, every assumption spelled out.

A workload is given one way:
- ``hours``: wall-clock hours, taken as the same on every offer (what SkyPilot and dstack assume);
- ``tflop``: total training compute in TFLOPs (1e12 floating-point operations);
- ``params`` + ``tokens``: a dense transformer; compute = 6 x params x tokens FLOPs (forward + backward,
  Kaplan et al. 2020 / Chinchilla's C = 6ND);
- ``step_time_s`` + ``steps`` + ``reference_accelerator``: a measured step time on a reference machine
  (``"V100:8"`` = one instance with 8 V100s); other offers scale by their effective throughput relative to it
  (or by memory bandwidth with ``scale_by="bandwidth"`` for memory-bound jobs).

Time: hours = compute / (effective TFLOPS per device x devices x scaling) / 3600, with the effective throughput
of each accelerator for the ``workload_class`` (transformer | vision | other) and the multi-device / multi-node
scaling efficiency fitted to published MLPerf Training results (``cloudml.cost.throughput``, ``cloudml.cost.fit``).
``efficiency`` (default ``DEFAULT_EFFICIENCY = 0.4``) is the model-FLOPs utilisation of an A100, the anchor of the
fit: well-tuned transformer runs report 0.35-0.55 MFU on A100 (PaLM 46%, Llama-style runs ~40%).

Memory fit (when ``params`` is known): per device, the training state (``bytes_per_param``, default 16 = bf16
weights and gradients + fp32 master weights + Adam moments, as in the ZeRO paper) sharded over every device of the
job (ZeRO-3 / FSDP), plus activations, must fit in 90% of the device memory (the rest for the CUDA context and
fragmentation). Transformer activations with activation checkpointing: 2 bytes x sequence x hidden x layers per
sequence in the micro-batch, plus one layer's working set (34 x sequence x hidden bytes, Korthikanti et al. 2022),
with hidden = (128 x params / 12)^(1/3), from params = 12 x layers x hidden^2 and layers = hidden / 128 (Llama-7B:
4096 and 32, GPT-3: 12288 and 96). Other classes: training state only (activations not estimated, said so).

Invariants: estimates are None (not a number) where the model cannot say (a CPU-only offer for a compute-given
workload); an estimate above a year or under a minute carries a WARNING assumption; step-time estimates cancel
efficiency (the same efficiency is assumed on the reference and the target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cloudml import accelerators
from cloudml.cost import throughput
from cloudml.errors import ValidationError

DEFAULT_EFFICIENCY = 0.4
DEFAULT_BYTES_PER_PARAM = 16.0
DEFAULT_SEQUENCE = 2048
MEMORY_USABLE = 0.9
WORKLOAD_CLASSES = throughput.CLASSES
SCALE_BY = ("flops", "bandwidth")
FORMS = ("give one of: hours; tflop; params and tokens; step_time_s, steps and reference_accelerator "
         "(e.g. --step-time 0.5 --steps 10000 --reference V100:8)")
ABSURD_HOURS = 24 * 365


def _positive_number(value: Any, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValidationError(name, f"must be a positive number, got {value!r}")


@lru_cache(maxsize=4096)
def _estimate(workload: Workload, accelerator: str, count: int, instance_count: int) -> float:
    return workload._estimate(accelerator, count, instance_count)


@lru_cache(maxsize=4096)
def _misfit(workload: Workload, accelerator: str, devices: int, memory_gib: float) -> str | None:
    return workload._misfit(accelerator, devices, memory_gib)


@lru_cache(maxsize=256)
def _activation_gib(params: float | None, workload_class: str, tokens: int) -> float | None:
    if params is None or workload_class != "transformer":
        return None
    hidden = (params * 128 / 12) ** (1 / 3)
    layers = hidden / 128
    return (2 * tokens * hidden * layers + 34 * tokens * hidden) / 2**30


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
    workload_class: str = "transformer"
    bytes_per_param: float = DEFAULT_BYTES_PER_PARAM
    sequence_length: int = DEFAULT_SEQUENCE
    micro_batch: int = 1
    model_params: float | None = None      # parameters for the memory check when compute is given another way

    def __post_init__(self) -> None:
        for name in ("hours", "tflop", "params", "tokens", "step_time_s", "steps", "efficiency", "bytes_per_param",
                     "sequence_length", "micro_batch", "model_params"):
            _positive_number(getattr(self, name), f"workload.{name}")
        if self.efficiency > 1:
            raise ValidationError("workload.efficiency", f"must be in (0, 1], got {self.efficiency!r}",
                                  f"the A100's fraction of peak sustained; default {DEFAULT_EFFICIENCY}")
        if self.scale_by not in SCALE_BY:
            raise ValidationError("workload.scale_by", f"unknown {self.scale_by!r}", "one of: " + ", ".join(SCALE_BY))
        if self.workload_class not in WORKLOAD_CLASSES:
            raise ValidationError("workload.workload_class", f"unknown {self.workload_class!r}",
                                  "one of: " + ", ".join(WORKLOAD_CLASSES))
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

    @property
    def memory_params(self) -> float | None:
        return self.params if self.params is not None else self.model_params

    def _rate(self, accelerator: str, count: int, instance_count: int) -> float:
        """Sustained TFLOPS (or GB/s) of the whole job."""
        if self.scale_by == "bandwidth" and self.step_time_s is not None:
            per_device = accelerators.ACCELERATORS[accelerator].bandwidth_gbs
        else:
            per_device = throughput.effective_tflops(accelerator, self.workload_class, self.efficiency)
        return per_device * count * instance_count * throughput.scaling(count, instance_count, self.workload_class)

    def estimate(self, accelerator: str | None, count: int, instance_count: int = 1) -> float | None:
        """Hours on ``instance_count`` instances each with ``count`` x ``accelerator``; None when the model
        cannot say (a compute-given workload on a CPU-only offer)."""
        if self.hours is not None:
            return self.hours
        if accelerator is None or count < 1:
            return None
        return _estimate(self, accelerator, count, instance_count)

    def _estimate(self, accelerator: str, count: int, instance_count: int) -> float:
        rate = self._rate(accelerator, count, instance_count)
        if self.step_time_s is not None:
            ref_name, ref_count = accelerators.parse(self.reference_accelerator or "")
            ref_seconds = self.step_time_s * (self.steps or 0)
            return ref_seconds * self._rate(ref_name, ref_count, 1) / rate / 3600.0
        return (self.total_tflop or 0.0) / rate / 3600.0

    def hours_for(self, offer: Any, instance_count: int = 1) -> float | None:
        """``estimate`` for a catalog ``Offer``."""
        return self.estimate(offer.accelerator, offer.accelerator_count, instance_count)

    # -- memory ---------------------------------------------------------------------------------------------
    def activation_gib(self) -> float | None:
        """Activations per device for one micro-batch (transformer class, with activation checkpointing)."""
        return _activation_gib(self.memory_params, self.workload_class, self.sequence_length * self.micro_batch)

    def memory_need_gib(self, devices: int) -> tuple[float, float, float] | None:
        """(per-device total, training state per device, activations per device) in GiB, or None (no params)."""
        params = self.memory_params
        if params is None:
            return None
        state = params * self.bytes_per_param / 2**30 / max(1, devices)
        act = self.activation_gib() or 0.0
        return state + act, state, act

    def memory_misfit(self, offer: Any, instance_count: int = 1) -> str | None:
        """Why ``offer`` cannot hold this job in accelerator memory, or None (it fits, or nothing to check)."""
        if self.hours is not None or self.memory_params is None or not offer.accelerator:
            return None
        return _misfit(self, offer.accelerator, offer.accelerator_count * instance_count,
                       offer.accelerator_memory_gib or 0.0)

    def _misfit(self, accelerator: str, devices: int, memory_gib: float) -> str | None:
        need = self.memory_need_gib(devices)
        have = memory_gib * MEMORY_USABLE
        if need is None or need[0] <= have:
            return None
        total, state, act = need
        return (f"does not fit in memory: needs {total:.1f} GiB per device ({state:.1f} GiB training state = "
                f"{self.memory_params:.3g} params x {self.bytes_per_param:g} B sharded over {devices} device(s), "
                f"+ {act:.1f} GiB activations), {accelerator} has {memory_gib:g} GiB ({have:.1f} usable)")

    # -- explanation ----------------------------------------------------------------------------------------
    def assumptions(self, offer: Any = None, instance_count: int = 1) -> list[str]:
        """Human-readable assumptions behind ``hours_for(offer, instance_count)``."""
        out: list[str] = []
        if self.hours is not None:
            out.append(f"{self.hours:g} h wall clock given, taken as the same on every offer")
            return out
        if self.step_time_s is not None:
            ref_name, ref_count = accelerators.parse(self.reference_accelerator or "")
            basis = ("memory bandwidth" if self.scale_by == "bandwidth"
                     else f"effective {self.workload_class} throughput (MLPerf fit)")
            out.append(f"{self.steps} steps x {self.step_time_s:g} s measured on {ref_count} x {ref_name}; "
                       f"other offers scaled by {basis}, same efficiency as the reference")
        else:
            if self.tflop is None:
                out.append(f"compute = 6 x {self.params:.3g} params x {self.tokens:.3g} tokens = "
                           f"{self.total_tflop:.3g} TFLOP (dense transformer, forward+backward)")
            else:
                out.append(f"compute = {self.tflop:.3g} TFLOP given")
            out.append(f"efficiency {self.efficiency:g}: an A100 sustains {self.efficiency:g} x 312 TFLOPS peak "
                       f"(default {DEFAULT_EFFICIENCY}: typical MFU of tuned transformer training)")
        if offer is not None and offer.accelerator:
            acc = accelerators.ACCELERATORS[offer.accelerator]
            factor, how = throughput.speed_factor(offer.accelerator, self.workload_class)
            sustained = throughput.effective_tflops(offer.accelerator, self.workload_class, self.efficiency)
            out.append(f"{offer.accelerator}: {sustained:.0f} TFLOPS sustained per device for {self.workload_class} "
                       f"({how}; {acc.peak_tflops:g} TFLOPS peak, {acc.source})")
            devices = offer.accelerator_count * instance_count
            if devices > 1:
                out.append(throughput.scaling_note(offer.accelerator_count, instance_count, self.workload_class))
            need = self.memory_need_gib(devices) if self.memory_params is not None else None
            if need is not None:
                out.append(f"memory per device: {need[0]:.1f} GiB ({need[1]:.1f} GiB training state at "
                           f"{self.bytes_per_param:g} B/param sharded over {devices}, {need[2]:.1f} GiB activations"
                           + (")" if self.workload_class == "transformer" else ", not estimated for this class)")
                           + f" of {acc.memory_gib:g} GiB")
            elif self.mode == "compute":
                out.append("memory fit not checked (give params, or --model-params)")
            hours = self.hours_for(offer, instance_count)
            if hours is not None and hours > ABSURD_HOURS:
                out.append(f"WARNING: {hours:,.0f} h is {hours / ABSURD_HOURS:.1f} years on this offer: check the "
                           "workload, or use more devices")
            elif hours is not None and hours < 1 / 60:
                out.append(f"WARNING: {hours * 3600:.1f} s is under a minute: check the workload's units")
        elif offer is not None:
            out.append("CPU-only offer: no accelerator throughput, hours not estimated")
        return out
