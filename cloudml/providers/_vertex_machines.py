"""Vertex AI machines, accelerators and prebuilt container images, as data. No SDK import, no network.

Invariants:
- ``choose_machine`` turns ``(instance_type, accelerator)`` into exactly one valid Vertex ``machineSpec`` or raises a
  ``ValidationError`` that lists the valid options; every combination below is one Vertex accepts:
  ``a2-highgpu-{1,2,4,8}g`` / ``a2-megagpu-16g`` = A100 x{1,2,4,8,16}; ``a2-ultragpu-{1,2,4,8}g`` = A100-80GB;
  ``a3-highgpu-8g`` = H100 x8; ``g2-standard-*`` = L4 x{1,2,4,8} (count fixed by the size); ``n1-*`` + T4 x{1,2,4}
  or V100 x{1,2,4,8}; TPU v5e ``ct5lp-hightpu-{1,4,8}t`` with ``tpuTopology`` 1x1/2x2/2x4 (and v4 ``ct4p``, v5p
  ``ct5p``, v6e ``ct6e``) and no accelerator fields; ``cloud-tpu`` + TPU_V2/TPU_V3 x8 cores (one v2-8/v3-8 = 4
  chips); CPU-only machine families take no accelerator;
- images come from cloudml's own tables of Vertex prebuilt containers (the SDK ships no training-image table);
  a (framework, version, device) with no image raises a ``ValidationError`` listing the versions that have one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudml import accelerators
from cloudml.errors import ValidationError

# canonical cloudml accelerator name -> Vertex AcceleratorType enum name
ACCELERATOR_TYPES = {
    "T4": "NVIDIA_TESLA_T4",
    "V100": "NVIDIA_TESLA_V100",
    "A100": "NVIDIA_TESLA_A100",
    "A100-80GB": "NVIDIA_A100_80GB",
    "H100": "NVIDIA_H100_80GB",
    "L4": "NVIDIA_L4",
    "TPU-V2": "TPU_V2",
    "TPU-V3": "TPU_V3",
}
ENUM_TO_ACCELERATOR = {v: k for k, v in ACCELERATOR_TYPES.items()}

# Machines whose accelerators are part of the machine type: machine -> (accelerator, count).
BUNDLED_GPU_MACHINES: dict[str, tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("A100", 16),
    **{f"a2-ultragpu-{n}g": ("A100-80GB", n) for n in (1, 2, 4, 8)},
    "a3-highgpu-8g": ("H100", 8),
    **{f"g2-standard-{n}": ("L4", 1) for n in (4, 8, 12, 16, 32)},
    "g2-standard-24": ("L4", 2),
    "g2-standard-48": ("L4", 4),
    "g2-standard-96": ("L4", 8),
}

# TPU VM machines (single host): machine -> (accelerator, chips, tpuTopology). No accelerator fields in the
# machineSpec: the machine type and topology say it all.
TPU_MACHINES: dict[str, tuple[str, int, str]] = {
    "ct5lp-hightpu-1t": ("TPU-V5E", 1, "1x1"),
    "ct5lp-hightpu-4t": ("TPU-V5E", 4, "2x2"),
    "ct5lp-hightpu-8t": ("TPU-V5E", 8, "2x4"),
    "ct4p-hightpu-4t": ("TPU-V4", 4, "2x2x1"),
    "ct5p-hightpu-4t": ("TPU-V5P", 4, "2x2x1"),
    "ct6e-standard-1t": ("TPU-V6E", 1, "1x1"),
    "ct6e-standard-4t": ("TPU-V6E", 4, "2x2"),
    "ct6e-standard-8t": ("TPU-V6E", 8, "2x4"),
}

# Older TPUs: machineType "cloud-tpu" + acceleratorType TPU_V2 / TPU_V3 with acceleratorCount 8 (cores) = one
# v2-8 / v3-8 device of 4 chips. cloudml counts TPU chips (as the price catalog does), so TPU-V3:4 asks for it;
# TPU-V3:8 (the device's name) is accepted as well.
CLOUD_TPU = "cloud-tpu"
CLOUD_TPU_ACCELERATORS = {"TPU-V2": (4, 8), "TPU-V3": (4, 8)}
CLOUD_TPU_CORES = 8

# GPUs attached to N1 machines: accelerator -> allowed counts.
N1_ATTACHABLE: dict[str, tuple[int, ...]] = {"T4": (1, 2, 4), "V100": (1, 2, 4, 8)}
N1_FOR_COUNT = {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32", 8: "n1-standard-64"}

_N1 = re.compile(r"^n1-(standard|highmem|highcpu)-(2|4|8|16|32|64|96)$")
_CPU = re.compile(r"^(n1|n2|n2d|e2|c2|c2d|m1)-(standard|highmem|highcpu|megamem|ultramem)-\d{1,3}$")

CPU_EXAMPLES = "n1-standard-4, n1-highmem-8, n2-standard-16, e2-standard-8, c2-standard-30"


@dataclass(frozen=True)
class Machine:
    """One Vertex ``machineSpec``: what ``choose_machine`` resolved a request to."""

    machine_type: str
    kind: str                           # "cpu" | "gpu" | "tpu"
    accelerator: str | None = None      # cloudml canonical name ("A100", "TPU-V5E")
    accelerator_count: int = 0
    accelerator_type: str | None = None  # Vertex enum name; None for CPU and TPU v5e machines
    tpu_topology: str | None = None

    def machine_spec(self) -> dict[str, object]:
        """The REST ``machineSpec`` (camelCase)."""
        spec: dict[str, object] = {"machineType": self.machine_type}
        if self.accelerator_type:
            spec["acceleratorType"] = self.accelerator_type
            spec["acceleratorCount"] = self.accelerator_count
        if self.tpu_topology:
            spec["tpuTopology"] = self.tpu_topology
        return spec


def valid_options() -> str:
    """Every accelerator request Vertex can run, as text for error messages."""
    lines = ["A100:1/2/4/8 (a2-highgpu-Ng), A100:16 (a2-megagpu-16g)",
             "A100-80GB:1/2/4/8 (a2-ultragpu-Ng)", "H100:8 (a3-highgpu-8g)",
             "L4:1 (g2-standard-4/8/12/16/32), L4:2 (g2-standard-24), L4:4 (g2-standard-48), L4:8 (g2-standard-96)",
             "T4:1/2/4 or V100:1/2/4/8 (n1-standard-*, n1-highmem-*, n1-highcpu-*)",
             "TPU-V5E:1/4/8 (ct5lp-hightpu-1t/4t/8t, topology 1x1/2x2/2x4)", "TPU-V4:4 (ct4p-hightpu-4t)",
             "TPU-V5P:4 (ct5p-hightpu-4t)", "TPU-V6E:1/4/8 (ct6e-standard-1t/4t/8t)",
             "TPU-V2:4 or TPU-V3:4 chips, also written :8 (cloud-tpu, a v2-8/v3-8)"]
    return "valid on Vertex AI: " + "; ".join(lines)


def _accelerated(machine: str, name: str, count: int) -> Machine:
    kind = accelerators.ACCELERATORS[name].kind
    return Machine(machine, kind, name, count, ACCELERATOR_TYPES[name])


def _tpu_vm(machine: str) -> Machine:
    name, chips, topology = TPU_MACHINES[machine]
    return Machine(machine, "tpu", name, chips, None, topology)


def _cloud_tpu(name: str) -> Machine:
    return Machine(CLOUD_TPU, "tpu", name, CLOUD_TPU_CORES, ACCELERATOR_TYPES[name])


def _default_machine(name: str, count: int, field: str) -> Machine:
    """The machine Vertex needs for ``count`` x ``name`` when no instance type was given."""
    for machine, (acc, n) in BUNDLED_GPU_MACHINES.items():
        if acc == name and n == count:
            return _accelerated(machine, name, count)
    for machine, (acc, chips, _topology) in TPU_MACHINES.items():
        if name == acc and chips == count:
            return _tpu_vm(machine)
    if name in CLOUD_TPU_ACCELERATORS and count in CLOUD_TPU_ACCELERATORS[name]:
        return _cloud_tpu(name)
    if name in N1_ATTACHABLE and count in N1_ATTACHABLE[name]:
        return _accelerated(N1_FOR_COUNT[count], name, count)
    raise ValidationError(field, f"Vertex AI has no machine with {count} x {name}", valid_options())


def choose_machine(instance_type: str | None, accelerator: str | None,
                   field: str = "resources.instance_type") -> Machine:
    """Resolve an instance type and/or accelerator request (``"A100:1"``) to one Vertex machine."""
    acc_field = "resources.accelerator" if field.startswith("resources.") else "accelerator"
    name, count = accelerators.parse(accelerator, acc_field) if accelerator else (None, 0)
    if instance_type is None:
        if name is None:
            raise ValidationError(field, "no instance type and no accelerator given",
                                  f"set an instance type such as {CPU_EXAMPLES}, or an accelerator; {valid_options()}")
        return _default_machine(name, count, acc_field)
    machine = instance_type.strip().lower()
    if machine in BUNDLED_GPU_MACHINES:
        has, n = BUNDLED_GPU_MACHINES[machine]
        if name is not None and (name, count) != (has, n):
            raise ValidationError(acc_field, f"{machine} comes with {n} x {has}, not {count} x {name}",
                                  f"ask for {has}:{n}, or drop instance_type to let cloudml pick; {valid_options()}")
        return _accelerated(machine, has, n)
    if machine in TPU_MACHINES:
        has, chips, _topology = TPU_MACHINES[machine]
        if name is not None and (name, count) != (has, chips):
            raise ValidationError(acc_field, f"{machine} has {chips} x {has}, not {count} x {name}",
                                  f"ask for {has}:{chips}; {valid_options()}")
        return _tpu_vm(machine)
    if machine == CLOUD_TPU:
        if name not in CLOUD_TPU_ACCELERATORS or count not in CLOUD_TPU_ACCELERATORS[name]:
            raise ValidationError(acc_field, f"cloud-tpu needs TPU-V2:4 or TPU-V3:4 (a v2-8/v3-8), got {accelerator!r}",
                                  valid_options())
        return _cloud_tpu(name)
    if _N1.match(machine):
        if name is None:
            return Machine(machine, "cpu")
        if name not in N1_ATTACHABLE or count not in N1_ATTACHABLE[name]:
            allowed = ", ".join(f"{a}:{'/'.join(map(str, c))}" for a, c in N1_ATTACHABLE.items())
            raise ValidationError(acc_field, f"{machine} cannot take {count} x {name}",
                                  f"N1 machines take {allowed}; {valid_options()}")
        return _accelerated(machine, name, count)
    if _CPU.match(machine):
        if name is not None:
            raise ValidationError(acc_field, f"{machine} takes no accelerators, got {accelerator!r}",
                                  f"drop instance_type to let cloudml pick the machine; {valid_options()}")
        return Machine(machine, "cpu")
    raise ValidationError(field, f"{instance_type!r} is not a Vertex AI machine type",
                          f"CPU machines such as {CPU_EXAMPLES}, a2-highgpu-1g, a2-ultragpu-1g, a3-highgpu-8g, "
                          "g2-standard-8, ct5lp-hightpu-4t, ct6e-standard-4t, cloud-tpu")


# -- images -------------------------------------------------------------------------------------------------
# Vertex AI prebuilt training containers (cloud.google.com/vertex-ai/docs/training/pre-built-containers):
# framework -> version -> device -> image name under <region>-docker.pkg.dev/vertex-ai/training/.
# Vertex lists the pytorch-xla images as its CPU images; TPU images are pytorch-tpu / tf-tpu.
TRAINING_IMAGES: dict[str, dict[str, dict[str, str]]] = {
    "pytorch": {
        "1.13": {"cpu": "pytorch-gpu.1-13.py310", "gpu": "pytorch-gpu.1-13.py310"},
        "2.0": {"cpu": "pytorch-xla.2-0.py310", "gpu": "pytorch-gpu.2-0.py310", "tpu": "pytorch-tpu.2-0"},
        "2.1": {"cpu": "pytorch-xla.2-1.py310", "gpu": "pytorch-gpu.2-1.py310", "tpu": "pytorch-tpu.2-1.cp310"},
        "2.2": {"cpu": "pytorch-xla.2-2.py310", "gpu": "pytorch-gpu.2-2.py310", "tpu": "pytorch-tpu.2-2.cp310"},
        "2.3": {"cpu": "pytorch-xla.2-3.py310", "gpu": "pytorch-gpu.2-3.py310"},
        "2.4": {"cpu": "pytorch-xla.2-4.py310", "gpu": "pytorch-gpu.2-4.py310"},
    },
    "tensorflow": {
        "2.12": {"cpu": "tf-cpu.2-12.py310", "gpu": "tf-gpu.2-12.py310"},
        "2.13": {"cpu": "tf-cpu.2-13.py310", "gpu": "tf-gpu.2-13.py310"},
        "2.14": {"cpu": "tf-cpu.2-14.py310", "gpu": "tf-gpu.2-14.py310"},
        "2.15": {"cpu": "tf-cpu.2-15.py310", "gpu": "tf-gpu.2-15.py310", "tpu": "tf-tpu.2-15.cp310"},
        "2.16": {"cpu": "tf-cpu.2-16.py310", "gpu": "tf-gpu.2-16.py310"},
        "2.17": {"cpu": "tf-cpu.2-17.py310", "gpu": "tf-gpu.2-17.py310"},
    },
}

# Prebuilt prediction containers that serve a TensorFlow SavedModel at the artifact root (TF Serving).
TF_PREDICTION_IMAGES: dict[str, dict[str, str]] = {
    v: {"cpu": f"tf2-cpu.{v.replace('.', '-')}", "gpu": f"tf2-gpu.{v.replace('.', '-')}"}
    for v in ("2.12", "2.13", "2.14", "2.15")
}


def registry_host(location: str) -> str:
    """Artifact Registry multi-region nearest to a Vertex location."""
    if location.startswith(("europe-", "me-", "africa-")):
        return "europe-docker.pkg.dev"
    if location.startswith(("asia-", "australia-")):
        return "asia-docker.pkg.dev"
    return "us-docker.pkg.dev"


def _versions_with(framework: str, device: str) -> list[str]:
    table = TRAINING_IMAGES[framework]
    return sorted((v for v in table if device in table[v]), key=lambda v: tuple(map(int, v.split("."))))


def training_image(framework: str, version: str, device: str, location: str) -> str:
    """The prebuilt training image for (framework, version, device); ``device`` is cpu | gpu | tpu."""
    row = TRAINING_IMAGES.get(framework, {}).get(version, {})
    if device not in row:
        have = _versions_with(framework, device)
        other = [d for d in ("cpu", "gpu", "tpu") if d in row]
        hint = f"; {framework} {version} has {', '.join(other)} images only" if other else ""
        raise ValidationError("framework_version",
                              f"Vertex AI has no prebuilt {device.upper()} training image for {framework} {version}{hint}",
                              f"{framework} versions with {device.upper()} images: {', '.join(have) or 'none'}"
                              " (or pass provider option image_uri=...)")
    return f"{registry_host(location)}/vertex-ai/training/{row[device]}:latest"


_PREBUILT = re.compile(r"/vertex-ai/training/(pytorch|tf)-(gpu|cpu|xla|tpu)\.")


def check_image_device(image_uri: str, machine: Machine) -> None:
    """Refuse a Vertex prebuilt training image built for another device than the machine (a GPU image on a TPU
    machine ...). Other images are the user's business."""
    m = _PREBUILT.search(image_uri)
    if not m:
        return
    device = {"xla": "cpu"}.get(m.group(2), m.group(2))
    fits = device == machine.kind or (device == "gpu" and machine.kind == "cpu" and "1-13" in image_uri)
    if not fits:
        raise ValidationError("image_uri", f"{image_uri} is a {device.upper()} image but {machine.machine_type} is a "
                              f"{machine.kind.upper()} machine",
                              f"use a {machine.kind.upper()} image, or leave image_uri unset to pick one from "
                              "cloudml's table")


def tf_prediction_image(version: str, device: str, location: str) -> str | None:
    """The prebuilt TF Serving prediction image for ``version``, or None when Vertex has none."""
    row = TF_PREDICTION_IMAGES.get(version)
    if not row or device not in row:
        return None
    return f"{registry_host(location)}/vertex-ai/prediction/{row[device]}:latest"
