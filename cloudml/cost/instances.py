"""The known instance table: what each instance type the cost model knows *is* (accelerators, vCPUs, RAM).

Invariants:
- prices never live here; this table says what a machine is, the catalog says what it costs;
- a catalog row whose accelerator kind or count contradicts this table is dropped on load (a catalog once
  listed Standard_ND96isr_H100_v5 with 12 GPUs; it has 8);
- accelerator counts are devices: GPUs, TPU *chips* (not TensorCores) and Trainium chips;
- names follow each service: SageMaker ``ml.*``; Vertex AI Compute Engine machine types; Azure ML VM SKUs.

Vertex AI mapping (how a row becomes a ``machineSpec``):
- GPUs on N1 hosts: ``instance_type="n1-standard-8"`` + ``accelerator="T4"``/``"V100"`` x count
  -> ``machineType=n1-standard-8, acceleratorType=NVIDIA_TESLA_T4, acceleratorCount=count``;
- A2/A3/G2 machine types carry their GPUs: ``a2-highgpu-1g`` -> ``acceleratorType=NVIDIA_TESLA_A100, count 1``;
- TPU v2/v3: ``instance_type="cloud-tpu"`` + ``TPU-V3`` x 4 chips -> ``machineType=cloud-tpu,
  acceleratorType=TPU_V3, acceleratorCount=8`` (Vertex counts TensorCores, 2 per chip);
- TPU v4/v5e/v5p/v6e: TPU VM machine types carry their chips (``ct5lp-hightpu-4t`` = 4 v5e chips,
  ``tpuTopology`` 2x2), no acceleratorType.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudml import accelerators

PROVIDERS = ("sagemaker", "vertex", "azureml")


@dataclass(frozen=True)
class Shape:
    accelerator: str | None      # canonical accelerator name, None for CPU-only machines
    count: int                   # devices per instance (GPU, TPU chip, Trainium chip)
    vcpus: float | None
    memory_gib: float | None


def _s(acc: str | None, count: int, vcpus: float | None, mem: float | None) -> Shape:
    return Shape(acc, count, vcpus, mem)


# Shapes from AWS instance-type docs, GCP machine-type docs and Azure VM size docs (vCPU/RAM as listed there).
FIXED: dict[tuple[str, str], Shape] = {
    # --- SageMaker (ml.* = the EC2 type with the same suffix)
    ("sagemaker", "ml.m5.xlarge"): _s(None, 0, 4, 16),
    ("sagemaker", "ml.g4dn.xlarge"): _s("T4", 1, 4, 16),
    ("sagemaker", "ml.p3.2xlarge"): _s("V100", 1, 8, 61),
    ("sagemaker", "ml.p3.8xlarge"): _s("V100", 4, 32, 244),
    ("sagemaker", "ml.p3.16xlarge"): _s("V100", 8, 64, 488),
    ("sagemaker", "ml.p3dn.24xlarge"): _s("V100-32GB", 8, 96, 768),
    ("sagemaker", "ml.p4d.24xlarge"): _s("A100", 8, 96, 1152),
    ("sagemaker", "ml.p4de.24xlarge"): _s("A100-80GB", 8, 96, 1152),
    ("sagemaker", "ml.p5.48xlarge"): _s("H100", 8, 192, 2048),
    ("sagemaker", "ml.p5.4xlarge"): _s("H100", 1, 16, 256),
    ("sagemaker", "ml.p5e.48xlarge"): _s("H200", 8, 192, 2048),
    ("sagemaker", "ml.p5en.48xlarge"): _s("H200", 8, 192, 2048),
    ("sagemaker", "ml.p6-b200.48xlarge"): _s("B200", 8, 192, 2048),
    ("sagemaker", "ml.trn1n.32xlarge"): _s("TRAINIUM", 16, 128, 512),
    ("sagemaker", "ml.trn2.48xlarge"): _s("TRAINIUM2", 16, 192, 2048),
    ("sagemaker", "ml.g5.xlarge"): _s("A10G", 1, 4, 16),
    ("sagemaker", "ml.g5.2xlarge"): _s("A10G", 1, 8, 32),
    ("sagemaker", "ml.g5.12xlarge"): _s("A10G", 4, 48, 192),
    ("sagemaker", "ml.g5.16xlarge"): _s("A10G", 1, 64, 256),
    ("sagemaker", "ml.g5.48xlarge"): _s("A10G", 8, 192, 768),
    ("sagemaker", "ml.g6.xlarge"): _s("L4", 1, 4, 16),
    ("sagemaker", "ml.g6.12xlarge"): _s("L4", 4, 48, 192),
    ("sagemaker", "ml.g6e.2xlarge"): _s("L40S", 1, 8, 64),
    ("sagemaker", "ml.g6e.16xlarge"): _s("L40S", 1, 64, 512),
    ("sagemaker", "ml.g6e.24xlarge"): _s("L40S", 4, 96, 768),
    ("sagemaker", "ml.g6e.48xlarge"): _s("L40S", 8, 192, 1536),
    ("sagemaker", "ml.trn1.2xlarge"): _s("TRAINIUM", 1, 8, 32),
    ("sagemaker", "ml.trn1.32xlarge"): _s("TRAINIUM", 16, 128, 512),
    # --- Vertex AI (Compute Engine machine types)
    ("vertex", "a2-highgpu-1g"): _s("A100", 1, 12, 85),
    ("vertex", "a2-highgpu-2g"): _s("A100", 2, 24, 170),
    ("vertex", "a2-highgpu-4g"): _s("A100", 4, 48, 340),
    ("vertex", "a2-highgpu-8g"): _s("A100", 8, 96, 680),
    ("vertex", "a2-ultragpu-1g"): _s("A100-80GB", 1, 12, 170),
    ("vertex", "a2-ultragpu-8g"): _s("A100-80GB", 8, 96, 1360),
    ("vertex", "a2-ultragpu-2g"): _s("A100-80GB", 2, 24, 340),
    ("vertex", "a2-ultragpu-4g"): _s("A100-80GB", 4, 48, 680),
    ("vertex", "a3-highgpu-8g"): _s("H100", 8, 208, 1872),
    ("vertex", "a3-megagpu-8g"): _s("H100", 8, 208, 1872),
    ("vertex", "a3-ultragpu-8g"): _s("H200", 8, 224, 2952),
    ("vertex", "a4-highgpu-8g"): _s("B200", 8, 224, 3968),
    ("vertex", "g2-standard-8"): _s("L4", 1, 8, 32),
    ("vertex", "g2-standard-12"): _s("L4", 1, 12, 48),
    ("vertex", "g2-standard-16"): _s("L4", 1, 16, 64),
    ("vertex", "g2-standard-24"): _s("L4", 2, 24, 96),
    ("vertex", "g2-standard-32"): _s("L4", 1, 32, 128),
    ("vertex", "g2-standard-48"): _s("L4", 4, 48, 192),
    ("vertex", "g2-standard-96"): _s("L4", 8, 96, 384),
    ("vertex", "g2-standard-4"): _s("L4", 1, 4, 16),
    ("vertex", "ct4p-hightpu-4t"): _s("TPU-V4", 4, 240, 407),
    ("vertex", "ct5lp-hightpu-1t"): _s("TPU-V5E", 1, 24, 48),
    ("vertex", "ct5lp-hightpu-4t"): _s("TPU-V5E", 4, 112, 192),
    ("vertex", "ct5lp-hightpu-8t"): _s("TPU-V5E", 8, 224, 384),
    ("vertex", "ct5p-hightpu-4t"): _s("TPU-V5P", 4, 208, 448),
    ("vertex", "ct6e-standard-1t"): _s("TPU-V6E", 1, 44, 176),
    ("vertex", "ct6e-standard-8t"): _s("TPU-V6E", 8, 180, 1440),
    # --- Azure ML (VM SKUs)
    ("azureml", "Standard_D32s_v3"): _s(None, 0, 32, 128),
    ("azureml", "Standard_F4s_v2"): _s(None, 0, 4, 8),
    ("azureml", "Standard_F8s_v2"): _s(None, 0, 8, 16),
    ("azureml", "Standard_NC4as_T4_v3"): _s("T4", 1, 4, 28),
    ("azureml", "Standard_NC8as_T4_v3"): _s("T4", 1, 8, 56),
    ("azureml", "Standard_NC16as_T4_v3"): _s("T4", 1, 16, 110),
    ("azureml", "Standard_NC64as_T4_v3"): _s("T4", 4, 64, 440),
    ("azureml", "Standard_NC12s_v3"): _s("V100", 2, 12, 224),
    ("azureml", "Standard_NC6s_v3"): _s("V100", 1, 6, 112),
    ("azureml", "Standard_NC24s_v3"): _s("V100", 4, 24, 448),
    ("azureml", "Standard_ND40rs_v2"): _s("V100-32GB", 8, 40, 672),
    ("azureml", "Standard_NC24ads_A100_v4"): _s("A100-80GB", 1, 24, 220),
    ("azureml", "Standard_NC48ads_A100_v4"): _s("A100-80GB", 2, 48, 440),
    ("azureml", "Standard_NC96ads_A100_v4"): _s("A100-80GB", 4, 96, 880),
    ("azureml", "Standard_ND96asr_v4"): _s("A100", 8, 96, 900),
    ("azureml", "Standard_ND96amsr_A100_v4"): _s("A100-80GB", 8, 96, 1800),
    ("azureml", "Standard_ND96isr_H100_v5"): _s("H100", 8, 96, 1900),
    ("azureml", "Standard_NC40ads_H100_v5"): _s("H100-NVL", 1, 40, 320),
    ("azureml", "Standard_NC80adis_H100_v5"): _s("H100-NVL", 2, 80, 640),
    ("azureml", "Standard_ND96isr_H200_v5"): _s("H200", 8, 96, 1850),
    ("azureml", "Standard_ND96isr_MI300X_v5"): _s("MI300X", 8, 96, 1850),
}

# Hosts that take attachable accelerators: host shape + {accelerator: allowed counts}.
ATTACHABLE: dict[tuple[str, str], tuple[Shape, dict[str, tuple[int, ...]]]] = {
    ("vertex", "n1-standard-8"): (_s(None, 0, 8, 30), {"T4": (1, 2, 4), "V100": (1, 2, 4, 8)}),
    ("vertex", "cloud-tpu"): (_s(None, 0, None, None), {"TPU-V2": (4,), "TPU-V3": (4,)}),
}


def shape_of(provider: str, instance_type: str, accelerator: str | None = None) -> Shape | None:
    """The known shape of ``instance_type`` (with ``accelerator`` attached, for attachable hosts), or None."""
    fixed = FIXED.get((provider, instance_type))
    if fixed is not None:
        return fixed
    attach = ATTACHABLE.get((provider, instance_type))
    if attach is None:
        return None
    host, allowed = attach
    if accelerator is None:
        return host
    counts = allowed.get(accelerator)
    return Shape(accelerator, counts[0], host.vcpus, host.memory_gib) if counts else None


def contradiction(provider: str, instance_type: str, accelerator: str | None, count: int) -> str | None:
    """Why a row's accelerator kind/count contradicts the table, or None if it agrees (or the type is unknown)."""
    fixed = FIXED.get((provider, instance_type))
    if fixed is not None:
        if fixed.accelerator != accelerator or fixed.count != count:
            return (f"{instance_type} has {fixed.count} x {fixed.accelerator or 'no accelerator'}, "
                    f"row says {count} x {accelerator or 'no accelerator'}")
        return None
    attach = ATTACHABLE.get((provider, instance_type))
    if attach is None:
        return None
    _, allowed = attach
    if accelerator is None:
        return None if count == 0 else f"{instance_type}: {count} accelerators but no accelerator named"
    if accelerator not in allowed:
        return f"{instance_type} takes {', '.join(allowed)}, not {accelerator}"
    if count not in allowed[accelerator]:
        return f"{instance_type} takes {accelerator} x {'/'.join(map(str, allowed[accelerator]))}, not x{count}"
    return None


def accelerator_memory(accelerator: str | None) -> float | None:
    return accelerators.ACCELERATORS[accelerator].memory_gib if accelerator else None


# Lifecycle: (provider, instance type) -> (retirement date, source). Before the date a row is "retiring" (offered,
# flagged); from the date on it is "retired" (never offered: dropped on load with the reason).
RETIREMENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("azureml", "Standard_NC6s_v3"): ("2025-09-30", "Azure docs: NCv3-series retirement (shared/PROVIDER_NOTES.md)"),
    ("azureml", "Standard_NC12s_v3"): ("2025-09-30", "Azure docs: NCv3-series retirement (shared/PROVIDER_NOTES.md)"),
    ("azureml", "Standard_NC24s_v3"): ("2025-09-30", "Azure docs: NCv3-series retirement (shared/PROVIDER_NOTES.md)"),
    ("azureml", "Standard_NC24rs_v3"): ("2025-09-30", "Azure docs: NCv3-series retirement (shared/PROVIDER_NOTES.md)"),
}

def family(instance_type: str) -> str:
    """The family an instance type belongs to, its size taken out: ``ml.g5.12xlarge`` -> ``ml.g5``,
    ``a2-highgpu-8g`` -> ``a2-highgpu``, ``Standard_NC24ads_A100_v4`` -> ``Standard_NC#ads_A100_v4``."""
    if instance_type.startswith("ml.") and instance_type.count(".") >= 2:
        return instance_type.rsplit(".", 1)[0]
    if instance_type.startswith("Standard_"):
        head, _, rest = instance_type.partition("_")
        first, sep, tail = rest.partition("_")
        sized = re.sub(r"\d+", "#", first, count=1)
        return f"{head}_{sized}{sep}{tail}"
    parts = instance_type.split("-")
    if len(parts) >= 3 and re.match(r"^\d+[a-z]*$", parts[-1]):
        return "-".join(parts[:-1])
    return instance_type
