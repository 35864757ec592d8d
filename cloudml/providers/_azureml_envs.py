"""Azure ML as data: VM sizes cloudml knows, and the environment each framework/version/CPU-GPU runs in.

Invariants:
- no SDK import and no network: these tables are consulted by ``AzureMLProvider.validate`` before any request;
- a VM size is looked up case-insensitively; ``vm_size()`` returns None for a well-formed size missing from the
  table (it is still accepted, as CPU unless it is an N-series GPU family);
- ``training_environment`` prefers an Azure curated environment (``azureml://registries/azureml/environments/...``)
  and otherwise builds one from an Azure ML base image plus a pip pin of the framework, so every version in
  ``cloudml.frameworks`` has an environment on CPU and GPU;
- a GPU environment is never chosen for a CPU-only VM size, and ``is_gpu_environment`` recognises a user's
  override that would need a GPU (CUDA images, ``-gpu`` / ``acpt-`` curated names).

Sources: curated ACPT environment names and the inference images (``azureml/curated/...``) as published in the
Azure/azureml-assets repository (``assets/training/general/environments/acpt-pytorch-<v>-cuda<c>``,
``assets/inference/environments/minimal-*``; commit and date next to each table); training base images
``mcr.microsoft.com/azureml/openmpi*`` as that repository's Dockerfiles name them; VM sizes from Azure's VM size docs (vCPU, memory GiB, GPUs).
Check with ``az ml environment list --registry-name azureml`` when a new release lands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

REGISTRY = "azureml://registries/azureml/environments"


@dataclass(frozen=True)
class VmSize:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    accelerator: str | None = None


VM_SIZES: dict[str, VmSize] = {v.name.lower(): v for v in (
    VmSize("Standard_DS2_v2", 2, 7),
    VmSize("Standard_DS3_v2", 4, 14),
    VmSize("Standard_DS4_v2", 8, 28),
    VmSize("Standard_D2s_v3", 2, 8),
    VmSize("Standard_D4s_v3", 4, 16),
    VmSize("Standard_D8s_v3", 8, 32),
    VmSize("Standard_D16s_v3", 16, 64),
    VmSize("Standard_D2as_v4", 2, 8),
    VmSize("Standard_D4as_v4", 4, 16),
    VmSize("Standard_E4s_v3", 4, 32),
    VmSize("Standard_E8s_v3", 8, 64),
    VmSize("Standard_F2s_v2", 2, 4),
    VmSize("Standard_F4s_v2", 4, 8),
    VmSize("Standard_F8s_v2", 8, 16),
    VmSize("Standard_NC4as_T4_v3", 4, 28, 1, "T4"),
    VmSize("Standard_NC8as_T4_v3", 8, 56, 1, "T4"),
    VmSize("Standard_NC16as_T4_v3", 16, 110, 1, "T4"),
    VmSize("Standard_NC64as_T4_v3", 64, 440, 4, "T4"),
    VmSize("Standard_NC6s_v3", 6, 112, 1, "V100"),
    VmSize("Standard_NC12s_v3", 12, 224, 2, "V100"),
    VmSize("Standard_NC24s_v3", 24, 448, 4, "V100"),
    VmSize("Standard_ND40rs_v2", 40, 672, 8, "V100-32GB"),
    VmSize("Standard_NV36ads_A10_v5", 36, 440, 1, "A10G"),
    VmSize("Standard_NC24ads_A100_v4", 24, 220, 1, "A100-80GB"),
    VmSize("Standard_NC48ads_A100_v4", 48, 440, 2, "A100-80GB"),
    VmSize("Standard_NC96ads_A100_v4", 96, 880, 4, "A100-80GB"),
    VmSize("Standard_ND96asr_v4", 96, 900, 8, "A100"),
    VmSize("Standard_ND96amsr_A100_v4", 96, 1800, 8, "A100-80GB"),
    VmSize("Standard_NC40ads_H100_v5", 40, 320, 1, "H100"),
    VmSize("Standard_ND96isr_H100_v5", 96, 1900, 8, "H100"),
)}

_VM_NAME = re.compile(r"^Standard_[A-Za-z]+[0-9]+[A-Za-z0-9_-]*$")
_GPU_FAMILY = re.compile(r"^Standard_N[A-Z]?[0-9]", re.IGNORECASE)

# PyTorch versions with an Azure curated GPU training environment (ACPT), version -> environment name: the
# folders assets/training/general/environments/acpt-pytorch-* of Azure/azureml-assets (checked at commit
# 4b41f8ccbc01cf492767adc586ce1661c54c340a, 2026-07-23: 1.13-cuda11.7, 2.2-cuda12.1, 2.8-cuda12.6; 2.0 and 2.1 were
# removed in 2024). Other versions build an environment from a base image plus a pip pin of the framework.
CURATED_PYTORCH_GPU = {
    "2.2": "acpt-pytorch-2.2-cuda12.1",
    "2.8": "acpt-pytorch-2.8-cuda12.6",
}
# Base images the azureml-assets environments build FROM (mcr.microsoft.com/azureml/openmpi*, same commit).
TRAINING_IMAGES = {
    "cpu": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
    "gpu": "mcr.microsoft.com/azureml/openmpi5.0-cuda12.4-ubuntu22.04:latest",
}
# Inference images as azureml-assets publishes them (environment.yaml ``image.name`` under
# assets/inference/environments/minimal-py311-inference and minimal-py312-cuda12.4-inference, same commit):
# azureml/curated/<name> on mcr.microsoft.com. Both hold azureml-inference-server-http, the scoring server.
INFERENCE_IMAGES = {
    "cpu": "mcr.microsoft.com/azureml/curated/minimal-py311-inference:latest",
    "gpu": "mcr.microsoft.com/azureml/curated/minimal-py312-cuda12.4-inference:latest",
}
PIP_PACKAGES = {"pytorch": "torch", "tensorflow": "tensorflow"}
_GPU_ENV = re.compile(r"(cuda|gpu|acpt-)", re.IGNORECASE)


def vm_size(name: str) -> VmSize | None:
    return VM_SIZES.get(name.lower())


def is_vm_name(name: str) -> bool:
    return bool(_VM_NAME.match(name))


def gpu_count(name: str) -> int:
    """GPUs on VM size ``name``: from the table, else 1 for an N-series family (GPU), else 0."""
    known = vm_size(name)
    if known is not None:
        return known.gpus
    return 1 if _GPU_FAMILY.match(name) else 0


def known_sizes(gpu: bool | None = None) -> list[str]:
    return [v.name for v in VM_SIZES.values() if gpu is None or (v.gpus > 0) == gpu]


@dataclass(frozen=True)
class EnvChoice:
    """Either a curated/registered environment id, or an image (+ optional conda spec) to build one from."""

    environment_id: str | None = None
    image: str | None = None
    conda: dict[str, Any] | None = None

    @property
    def gpu(self) -> bool:
        return is_gpu_environment(self.environment_id or self.image or "")

    def describe(self) -> str:
        return self.environment_id or f"{self.image} + pip {', '.join(self._pins())}"

    def _pins(self) -> list[str]:
        deps = (self.conda or {}).get("dependencies", [])
        return [p for d in deps if isinstance(d, dict) for p in d.get("pip", [])]


def conda_spec(framework: str, version: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """A conda environment pinning the framework's minor version (pip), Python 3.11."""
    pins = [f"{PIP_PACKAGES[framework]}=={version}.*", "numpy", *extra]
    return {"name": "cloudml", "channels": ["conda-forge"],
            "dependencies": ["python=3.11", "pip", {"pip": pins}]}


def training_environment(framework: str, version: str, gpu: bool) -> EnvChoice:
    if framework == "pytorch" and gpu and version in CURATED_PYTORCH_GPU:
        return EnvChoice(environment_id=f"{REGISTRY}/{CURATED_PYTORCH_GPU[version]}/labels/latest")
    return EnvChoice(image=TRAINING_IMAGES["gpu" if gpu else "cpu"], conda=conda_spec(framework, version))


def inference_environment(framework: str, version: str, gpu: bool) -> EnvChoice:
    return EnvChoice(image=INFERENCE_IMAGES["gpu" if gpu else "cpu"],
                     conda=conda_spec(framework, version, ("azureml-inference-server-http",)))


def is_gpu_environment(reference: str) -> bool:
    """Does this environment id or image name need a GPU (CUDA base, curated ``-gpu`` / ACPT names)?"""
    return bool(_GPU_ENV.search(reference))


def user_environment(value: Any, field: str) -> EnvChoice:
    """A user's ``environment`` option: ``"azureml:NAME@latest"`` / ``"azureml:NAME:VER"`` / ``"azureml://..."``,
    an image reference (``"repo/image:tag"``), or ``{"image": ..., "conda_file": {...} | "path.yml"}``."""
    from cloudml.errors import ValidationError

    if isinstance(value, dict):
        image = value.get("image")
        conda = value.get("conda_file") or value.get("conda")
        if not isinstance(image, str) or not image:
            raise ValidationError(field, "an environment mapping needs an 'image'",
                                  "e.g. {'image': 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04', 'conda_file': 'env.yml'}")
        if isinstance(conda, str):
            import yaml

            try:
                with open(conda) as f:
                    conda = yaml.safe_load(f)
            except OSError as exc:
                raise ValidationError(field, f"cannot read conda file {conda!r}: {exc}") from None
        if conda is not None and not isinstance(conda, dict):
            raise ValidationError(field, "conda_file must be a mapping or the path of a conda YAML file")
        return EnvChoice(image=image, conda=conda)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, f"expected an environment id or image, got {value!r}",
                              "e.g. 'azureml:my-env@latest', 'azureml://registries/azureml/environments/NAME/labels/latest' "
                              "or an image 'myregistry.azurecr.io/train:1'")
    value = value.strip()
    if value.startswith("azureml:") or value.startswith("/subscriptions/"):
        return EnvChoice(environment_id=value)
    if re.match(r"^[a-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})?$", value):
        return EnvChoice(image=value)
    raise ValidationError(field, f"{value!r} is neither an Azure ML environment id nor an image reference",
                          "use 'azureml:NAME@latest', 'azureml:NAME:VERSION', 'azureml://registries/...' or 'host/repo:tag'")
