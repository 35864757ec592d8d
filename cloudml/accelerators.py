"""Accelerators as data: canonical names, aliases, memory and peak throughput.

Invariant: every accelerator string cloudml accepts resolves here to one canonical name; anything else is a
``ValidationError`` listing the accepted names. Throughput figures are vendor peak dense BF16/FP16 TFLOPS
(no sparsity) and HBM bandwidth; sources are named per row so estimates can show their assumptions.
"""

from __future__ import annotations

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
    Accelerator("H200", "gpu", 141, 989, 4800, "NVIDIA H200 datasheet (BF16 dense)"),
    Accelerator("TPU-V2", "tpu", 16, 45, 700, "Google Cloud TPU v2 docs (per chip)"),
    Accelerator("TPU-V3", "tpu", 32, 123, 900, "Google Cloud TPU v3 docs (per chip)"),
    Accelerator("TPU-V4", "tpu", 32, 275, 1200, "Google Cloud TPU v4 docs (per chip)"),
    Accelerator("TPU-V5E", "tpu", 16, 197, 819, "Google Cloud TPU v5e docs (per chip)"),
    Accelerator("TPU-V5P", "tpu", 95, 459, 2765, "Google Cloud TPU v5p docs (per chip)"),
    Accelerator("TPU-V6E", "tpu", 32, 918, 1640, "Google Cloud TPU v6e (Trillium) docs (per chip)"),
    Accelerator("TRAINIUM", "trainium", 32, 190, 820, "AWS Trainium docs (BF16 per chip, approx.)"),
)}

_ALIASES = {
    "A100-40GB": "A100", "A100_40GB": "A100", "A100_80GB": "A100-80GB", "A10": "A10G",
    "V100_32GB": "V100-32GB", "H100-80GB": "H100", "TRN1": "TRAINIUM",
    "TPUV2": "TPU-V2", "TPUV3": "TPU-V3", "TPUV4": "TPU-V4", "TPUV5E": "TPU-V5E", "TPUV5P": "TPU-V5P",
    "TPUV6E": "TPU-V6E", "TPU-V5LITE": "TPU-V5E", "TPU-V5LITEPOD": "TPU-V5E", "TRILLIUM": "TPU-V6E",
}

ACCEPTED_FORMS = "NAME or NAME:COUNT, e.g. A100:8, H100, tpu-v5e:8; names: " + ", ".join(ACCELERATORS)


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


def parse(text: str, field: str = "accelerator") -> tuple[str, int]:
    """Parse ``"A100:8"`` -> ``("A100", 8)``; a bare name means one device."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, f"expected an accelerator string, got {text!r}", ACCEPTED_FORMS)
    name, sep, count_text = text.strip().partition(":")
    count = 1
    if sep:
        try:
            count = int(count_text)
        except ValueError:
            raise ValidationError(field, f"count {count_text!r} in {text!r} is not a whole number",
                                  ACCEPTED_FORMS) from None
        if count < 1:
            raise ValidationError(field, f"count must be at least 1, got {count} in {text!r}", ACCEPTED_FORMS)
    return canonical(name, field), count


def get(name: str) -> Accelerator:
    return ACCELERATORS[canonical(name)]


# --- appended by the cost model (issue 3) -------------------------------------------------------------
# Azure NC H100 v5 carries the 94 GB PCIe "NVL" part, slower than the SXM H100 above.
ACCELERATORS["H100-NVL"] = Accelerator(
    "H100-NVL", "gpu", 94, 835, 3900, "NVIDIA H100 NVL datasheet (BF16 1671 with sparsity -> 835 dense)")
_ALIASES.update({"H100NVL": "H100-NVL"})
ACCEPTED_FORMS = "NAME or NAME:COUNT, e.g. A100:8, H100, tpu-v5e:8; names: " + ", ".join(ACCELERATORS)
