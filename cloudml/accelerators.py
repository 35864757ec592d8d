"""Accelerators as data: canonical names, aliases, memory and peak throughput; and what a request means.

Invariants:
- every accelerator string cloudml accepts resolves here to one canonical name; anything else is a
  ``ValidationError`` listing the accepted names. Throughput figures are vendor peak dense BF16/FP16 TFLOPS
  (no sparsity) and HBM bandwidth; sources are named per row so estimates can show their assumptions;
- 40 GB and 80 GB A100s are different accelerators (``A100`` is the 40 GB part, ``A100-80GB`` the 80 GB one),
  as are ``V100`` / ``V100-32GB`` and ``H100`` (SXM) / ``H100-NVL`` (PCIe, 94 GB);
- a request ``NAME:N`` means exactly N devices per instance; ``NAME:N+`` means at least N; a bare ``NAME``
  means exactly one;
- TPU counts are always **chips**. Google's slice names count differently by generation (``v2-8``, ``v3-8``,
  ``v4-8``, ``v5p-8`` count TensorCores, 2 per chip, so they are 4 chips; ``v5litepod-8`` and ``v6e-8`` count
  chips), and Vertex's ``acceleratorCount`` for TPU_V2/TPU_V3 counts cores. Those names are accepted and
  converted, and ``Request.note`` says how (``tpu-v5p-8`` -> ``TPU-V5P:4``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudml.errors import ValidationError


@dataclass(frozen=True)
class Accelerator:
    name: str                 # canonical, e.g. "A100-80GB"
    kind: str                 # "gpu" | "tpu" | "trainium"
    memory_gib: float         # per device
    peak_tflops: float        # dense BF16/FP16, per device (TPU: per chip)
    bandwidth_gbs: float      # memory bandwidth per device, GB/s
    source: str


# Peak dense BF16/FP16 TFLOPS as given in shared/PROVIDER_NOTES.md and vendor data sheets.
ACCELERATORS: dict[str, Accelerator] = {a.name: a for a in (
    Accelerator("T4", "gpu", 16, 65, 320, "NVIDIA T4 datasheet (FP16 tensor, dense)"),
    Accelerator("V100", "gpu", 16, 125, 900, "NVIDIA V100 SXM2 datasheet (tensor)"),
    Accelerator("V100-32GB", "gpu", 32, 125, 900, "NVIDIA V100 SXM2 32GB datasheet (tensor)"),
    Accelerator("A10G", "gpu", 24, 70, 600, "AWS G5 docs / NVIDIA A10 (approx., dense)"),
    Accelerator("L4", "gpu", 24, 121, 300, "NVIDIA L4 datasheet (dense)"),
    Accelerator("L40S", "gpu", 48, 362, 864, "NVIDIA L40S datasheet (dense)"),
    Accelerator("A100", "gpu", 40, 312, 1555, "NVIDIA A100 40GB datasheet (BF16 dense)"),
    Accelerator("A100-80GB", "gpu", 80, 312, 2039, "NVIDIA A100 80GB datasheet (BF16 dense)"),
    Accelerator("H100", "gpu", 80, 989, 3350, "NVIDIA H100 SXM datasheet (BF16 dense)"),
    Accelerator("H100-NVL", "gpu", 94, 835, 3900, "NVIDIA H100 NVL datasheet (BF16 1671 with sparsity -> 835 dense)"),
    Accelerator("H200", "gpu", 141, 989, 4800, "NVIDIA H200 datasheet (BF16 dense)"),
    Accelerator("B200", "gpu", 180, 2250, 8000, "NVIDIA DGX B200 datasheet (72 PFLOPS FP8 sparse / 8 GPUs -> BF16 dense)"),
    Accelerator("MI300X", "gpu", 192, 1307, 5300, "AMD Instinct MI300X datasheet (BF16 dense)"),
    Accelerator("TPU-V2", "tpu", 16, 45, 700, "Google Cloud TPU v2 docs (per chip)"),
    Accelerator("TPU-V3", "tpu", 32, 123, 900, "Google Cloud TPU v3 docs (per chip)"),
    Accelerator("TPU-V4", "tpu", 32, 275, 1200, "Google Cloud TPU v4 docs (per chip)"),
    Accelerator("TPU-V5E", "tpu", 16, 197, 819, "Google Cloud TPU v5e docs (per chip)"),
    Accelerator("TPU-V5P", "tpu", 95, 459, 2765, "Google Cloud TPU v5p docs (per chip)"),
    Accelerator("TPU-V6E", "tpu", 32, 918, 1640, "Google Cloud TPU v6e (Trillium) docs (per chip)"),
    Accelerator("TRAINIUM", "trainium", 32, 190, 820, "AWS Trainium docs (BF16 per chip, approx.)"),
    Accelerator("TRAINIUM2", "trainium", 96, 667, 2900, "AWS Trainium2 docs (BF16 per chip; shared/PROVIDER_NOTES.md)"),
)}

_ALIASES = {
    "A100-40GB": "A100", "A100_40GB": "A100", "A100_80GB": "A100-80GB", "A10": "A10G",
    "V100_32GB": "V100-32GB", "H100-80GB": "H100", "H100-SXM": "H100", "H100NVL": "H100-NVL",
    "H200-141GB": "H200", "TRN1": "TRAINIUM", "TRN2": "TRAINIUM2", "TRAINIUM1": "TRAINIUM",
    "TPUV2": "TPU-V2", "TPUV3": "TPU-V3", "TPUV4": "TPU-V4", "TPUV5E": "TPU-V5E", "TPUV5P": "TPU-V5P",
    "TPUV6E": "TPU-V6E", "TPU-V5LITE": "TPU-V5E", "TPU-V5LITEPOD": "TPU-V5E", "TRILLIUM": "TPU-V6E",
}

# Google slice names ("v5p-8"): does the number count TensorCores (2 per chip) or chips?
_SLICE_COUNTS_CORES = {"TPU-V2": True, "TPU-V3": True, "TPU-V4": True, "TPU-V5P": True,
                       "TPU-V5E": False, "TPU-V6E": False}
_SLICE = re.compile(r"^(?:TPU-?)?(V2|V3|V4|V5P|V5E|V5LITEPOD|V5-?LITE-?POD|V6E)-(\d+)$")

ACCEPTED_FORMS = ("NAME (exactly one), NAME:N (exactly N per instance) or NAME:N+ (at least N), e.g. A100:8, "
                  "A100-80GB:1+, H100, tpu-v5e:8 (TPU counts are chips; Google slice names such as tpu-v5p-8 "
                  "are accepted); names: " + ", ".join(ACCELERATORS))


@dataclass(frozen=True)
class Request:
    """A parsed accelerator request: ``count`` devices per instance, exactly or ``at_least``."""

    name: str
    count: int
    at_least: bool = False
    note: str | None = None          # how a service-specific name was converted, for the user

    def matches(self, name: str | None, count: int) -> bool:
        return name == self.name and (count >= self.count if self.at_least else count == self.count)

    def __str__(self) -> str:
        return f"{self.name}:{self.count}" + ("+" if self.at_least else "")


def canonical(name: str, field: str = "accelerator") -> str:
    """The canonical accelerator name for ``name`` (case and separators forgiven)."""
    key = name.strip().upper().replace("_", "-").replace(" ", "")
    if key in ACCELERATORS:
        return key
    squashed = key.replace("-", "")
    for alias, canon in _ALIASES.items():
        if key == alias or squashed == alias.replace("-", ""):
            return canon
    for canon in ACCELERATORS:
        if canon.replace("-", "") == squashed:
            return canon
    raise ValidationError(field, f"unknown accelerator {name!r}", ACCEPTED_FORMS)


def _slice(text: str) -> Request | None:
    """Google's TPU slice name (``v5p-8``, ``tpu-v5litepod-4``) -> chips, or None when ``text`` is not one."""
    m = _SLICE.match(text.strip().upper().replace("_", "-"))
    if not m:
        return None
    gen = m.group(1).replace("-", "")
    name = canonical("TPU-" + ("V5E" if gen.startswith("V5LITE") else gen))
    number = int(m.group(2))
    cores = _SLICE_COUNTS_CORES[name]
    chips = number // 2 if cores else number
    if chips < 1:
        return None
    unit = "TensorCores (2 per chip)" if cores else "chips"
    return Request(name, chips, False, f"{text.strip()} is Google's slice name; its number counts {unit}, "
                                       f"so it is {chips} chip(s): {name}:{chips}")


def parse_request(text: str, field: str = "accelerator") -> Request:
    """Parse ``"A100:8"`` (exactly 8), ``"A100:1+"`` (at least 1), ``"H100"`` (exactly 1) or a TPU slice
    name (``"tpu-v5p-8"`` = 4 chips)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, f"expected an accelerator string, got {text!r}", ACCEPTED_FORMS)
    name, sep, count_text = text.strip().partition(":")
    if not sep:
        sliced = _slice(name)
        if sliced is not None:
            return sliced
        return Request(canonical(name, field), 1)
    count_text = count_text.strip()
    at_least = count_text.endswith("+")
    digits = count_text[:-1] if at_least else count_text
    try:
        count = int(digits)
    except ValueError:
        raise ValidationError(field, f"count {count_text!r} in {text!r} is not a whole number",
                              ACCEPTED_FORMS) from None
    if count < 1:
        raise ValidationError(field, f"count must be at least 1, got {count} in {text!r}", ACCEPTED_FORMS)
    sliced = _slice(name)
    if sliced is not None:
        raise ValidationError(field, f"{text!r} mixes a slice name with a count", f"use {sliced} ({sliced.note})")
    return Request(canonical(name, field), count, at_least)


def parse(text: str, field: str = "accelerator") -> tuple[str, int]:
    """``(name, count)`` of a request (``"A100:8"`` -> ``("A100", 8)``; ``"A100:1+"`` -> ``("A100", 1)``)."""
    req = parse_request(text, field)
    return req.name, req.count


def get(name: str) -> Accelerator:
    return ACCELERATORS[canonical(name)]
