"""Frozen, validated specs: what to run (``SourceCode``), on what (``Resources``), how (``TrainingSpec``),
and how to serve it (``DeploySpec``).

Invariants:
- constructors check values and types only (no file system, no network); ``validate()`` adds the checks that
  look at the file system (entry point inside ``source_dir``) and at a provider's storage schemes;
- every failure is a ``ValidationError`` naming the field and the accepted forms;
- specs are immutable; ``dataclasses.replace`` makes variants.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cloudml import accelerators, frameworks, names
from cloudml.errors import ValidationError

_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_HP_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URI_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
#: More nodes or processes than any service offers a job is a typo (``instance_count: 1e23``), refused early.
MAX_INSTANCES = 1000
MAX_PROCESSES_PER_NODE = 512
#: The whole set reaches the script as ONE environment variable (``CLOUDML_HPS`` / ``SM_HPS``; Linux refuses any
#: single argument or variable over 128 KiB: E2BIG) besides ``--key value`` arguments, and travels in requests.
MAX_HP_VALUE_BYTES = 32 * 1024
MAX_HPS_BYTES = 96 * 1024


_INPUT_REF = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_.-]+)\s*\}\}")


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _positive_int(value: Any, name: str, allow_none: bool = False, maximum: int | None = None) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        shown = f"{value!r}"[:60]
        raise ValidationError(name, f"must be a whole number of at least 1, got {shown}")
    if maximum is not None and value > maximum:
        raise ValidationError(name, f"{value:.3g} is more than any provider runs" if value > 10**9 else
                              f"{value} is more than cloudml accepts", f"at most {maximum}")


def _positive_number(value: Any, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValidationError(name, f"must be a positive number, got {value!r}")


def uri_scheme(uri: str) -> str | None:
    """``"s3://b/k"`` -> ``"s3"``; a plain path -> ``None``; ``file://`` counts as a local path."""
    m = _URI_SCHEME.match(uri)
    if not m or m.group(1).lower() == "file":
        return None
    return m.group(1).lower()


def local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.lower().startswith("file://") else uri


@dataclass(frozen=True)
class Resources:
    """What to run on: a pinned ``instance_type`` or a request the cost planner satisfies.

    ``accelerator`` is ``"NAME[:COUNT]"`` (``"A100:8"``, ``"tpu-v5e:4"``). Prices are USD.
    """

    instance_type: str | None = None
    accelerator: str | None = None
    spot: bool = False
    max_hourly_usd: float | None = None
    max_total_usd: float | None = None
    min_accelerator_memory_gib: float | None = None
    min_vcpus: int | None = None
    min_memory_gib: float | None = None
    region: str | None = None
    volume_gb: int = 30

    def __post_init__(self) -> None:
        if self.instance_type is not None and (not isinstance(self.instance_type, str) or not self.instance_type.strip()):
            raise ValidationError("resources.instance_type", f"must be a non-empty string, got {self.instance_type!r}")
        if self.accelerator is not None:
            accelerators.parse(self.accelerator, "resources.accelerator")
        if not isinstance(self.spot, bool):
            raise ValidationError("resources.spot", f"must be True or False, got {self.spot!r}")
        for name in ("max_hourly_usd", "max_total_usd", "min_accelerator_memory_gib", "min_memory_gib"):
            _positive_number(getattr(self, name), f"resources.{name}")
        _positive_int(self.min_vcpus, "resources.min_vcpus", allow_none=True)
        _positive_int(self.volume_gb, "resources.volume_gb")
        if self.region is not None and not re.match(r"^[a-z0-9-]{2,40}$", str(self.region)):
            raise ValidationError("resources.region", f"not a region name: {self.region!r}", "e.g. us-east-1, us-central1, eastus")

    @property
    def accelerator_name(self) -> str | None:
        return accelerators.parse(self.accelerator)[0] if self.accelerator else None

    @property
    def accelerator_count(self) -> int:
        return accelerators.parse(self.accelerator)[1] if self.accelerator else 0


@dataclass(frozen=True)
class SourceCode:
    """The user's code: ``source_dir`` is bundled whole (minus ignore rules); ``entry_point`` is relative to it."""

    entry_point: str
    source_dir: str = "."
    ignore: tuple[str, ...] = ()
    allow_secrets: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.entry_point, str) or not self.entry_point.strip():
            raise ValidationError("entry_point", f"must name a script, got {self.entry_point!r}", "e.g. 'train.py'")
        if not isinstance(self.source_dir, (str, os.PathLike)):
            raise ValidationError("source_dir", f"must be a path, got {self.source_dir!r}")
        object.__setattr__(self, "source_dir", os.fspath(self.source_dir))
        object.__setattr__(self, "ignore", tuple(self.ignore))

    def validate(self) -> None:
        root = Path(self.source_dir)
        if not root.is_dir():
            raise ValidationError("source_dir", f"{self.source_dir!r} is not a directory")
        entry = (root / self.entry_point).resolve()
        if not entry.is_relative_to(root.resolve()):
            raise ValidationError("entry_point", f"{self.entry_point!r} is outside source_dir {self.source_dir!r}",
                                  "give a path relative to source_dir")
        if not entry.is_file():
            raise ValidationError("entry_point", f"{self.entry_point!r} does not exist in source_dir {self.source_dir!r}")


def _nul_in(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_nul_in(k) or _nul_in(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_nul_in(v) for v in value)
    return False


def _check_hyperparameters(hps: Mapping[str, Any]) -> None:
    total = 0
    for key, value in hps.items():
        if not isinstance(key, str) or not _HP_KEY.match(key):
            raise ValidationError(f"hyperparameters[{str(key)[:60]!r}]", "keys must be identifiers (letters, digits, _ . -)")
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"hyperparameters[{key!r}]", f"value {value!r} is not JSON-serialisable ({exc})",
                                  "use str, int, float, bool, list or dict values") from None
        if _nul_in(value):
            raise ValidationError(f"hyperparameters[{key!r}]", "contains a NUL character (\\x00), which no "
                                  "command line or environment variable can carry", "remove it")
        size = len(encoded.encode())
        if size > MAX_HP_VALUE_BYTES:
            raise ValidationError(f"hyperparameters[{key!r}]", f"value is {size / 1024:.0f} KiB; at most "
                                  f"{MAX_HP_VALUE_BYTES // 1024} KiB each",
                                  "put large data in a file in source_dir or an input channel and pass its name")
        total += size + len(key)
    if total > MAX_HPS_BYTES:
        raise ValidationError("hyperparameters", f"{total / 1024:.0f} KiB in all; at most {MAX_HPS_BYTES // 1024} KiB",
                              "put large data in a file in source_dir or an input channel")


def _check_str_mapping(values: Mapping[str, Any], name: str, key_pattern: re.Pattern[str] | None = None) -> None:
    for key, value in values.items():
        if not isinstance(key, str) or (key_pattern is not None and not key_pattern.match(key)):
            raise ValidationError(f"{name}[{key!r}]", "not a valid name")
        if not isinstance(value, str):
            raise ValidationError(f"{name}[{key!r}]", f"values must be strings, got {type(value).__name__}")
        if "\x00" in value or "\x00" in key:
            raise ValidationError(f"{name}[{key!r}]", "contains a NUL character (\\x00)", "remove it")


def make_job_name(base: str) -> str:
    """``base-YYYYmmdd-HHMMSS-xxxxxx``: unique (random suffix), at most 63 characters, SageMaker-safe."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    suffix = os.urandom(3).hex()
    base = re.sub(r"[^A-Za-z0-9-]", "-", base).strip("-")[: 63 - len(stamp) - len(suffix) - 2] or "job"
    return f"{base}-{stamp}-{suffix}"


@dataclass(frozen=True)
class TrainingSpec:
    """Everything a provider needs to run one training job. Build it with ``Estimator``; providers read it."""

    source: SourceCode
    framework: str = "pytorch"
    framework_version: str | None = None
    resources: Resources = field(default_factory=Resources)
    instance_count: int = 1
    processes_per_node: int | None = None     # None: one per GPU on GPU machines, else 1
    distribution: str | None = None           # None: "ddp" when more than one process per node, else none
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    job_name: str | None = None
    max_run_seconds: int = 24 * 3600
    max_wait_seconds: int | None = None       # spot only: run + waiting for capacity
    checkpoint_uri: str | None = None
    output_uri: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    provider_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fw = frameworks.canonical_framework(self.framework)
        object.__setattr__(self, "framework", fw)
        object.__setattr__(self, "framework_version", frameworks.canonical_version(fw, self.framework_version))
        if not isinstance(self.source, SourceCode):
            raise ValidationError("source", "must be a SourceCode")
        if not isinstance(self.resources, Resources):
            raise ValidationError("resources", f"must be a cloudml.Resources, got {type(self.resources).__name__}")
        _positive_int(self.instance_count, "instance_count", maximum=MAX_INSTANCES)
        _positive_int(self.processes_per_node, "processes_per_node", allow_none=True, maximum=MAX_PROCESSES_PER_NODE)
        _positive_int(self.max_run_seconds, "max_run_seconds")
        _positive_int(self.max_wait_seconds, "max_wait_seconds", allow_none=True)
        if self.max_wait_seconds is not None and self.max_wait_seconds < self.max_run_seconds:
            raise ValidationError("max_wait_seconds", "must be at least max_run_seconds")
        for name in ("hyperparameters", "environment", "channels", "tags", "provider_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ValidationError(name, f"must be a mapping, got {type(value).__name__}")
            object.__setattr__(self, name, _freeze(value))
        _check_hyperparameters(self.hyperparameters)
        _check_str_mapping(self.environment, "environment", _ENV_KEY)
        _check_str_mapping(self.tags, "tags")
        _check_str_mapping(self.channels, "channels", _CHANNEL)
        for cname, uri in self.channels.items():
            if not uri.strip():
                raise ValidationError(f"channels[{cname!r}]", "empty URI")
        object.__setattr__(self, "distribution", frameworks.canonical_distribution(fw, self.distribution))
        frameworks.check_process_layout(fw, self.distribution, self.processes_per_node)
        if self.job_name is not None:
            names.check(self.job_name, "job_name")

    @property
    def world_processes(self) -> int:
        return self.instance_count * (self.processes_per_node or 1)

    @property
    def effective_distribution(self) -> str:
        """The distribution asked for; unset, ``ddp`` only when more than one process per node was asked for.
        Several nodes with no distribution run the script once per node, unwrapped (as SageMaker does): a
        script that builds its own process group finds ``WORLD_SIZE``/``RANK``/``MASTER_ADDR``/``MASTER_PORT``
        and ``SM_HOSTS``/``SM_CURRENT_HOST``; TensorFlow gets no ``TF_CONFIG`` unless a strategy is named."""
        if self.distribution:
            return self.distribution
        if (self.processes_per_node or 1) > 1:
            return "ddp" if self.framework == "pytorch" else "multi_worker_mirrored"
        return "none"

    def validate(self, storage_schemes: Sequence[str] = ()) -> None:
        """File-system and provider checks: the entry point exists; channel URIs use ``storage_schemes``
        or are local paths that exist (they will be uploaded)."""
        self.source.validate()
        for cname, uri in self.channels.items():
            scheme = uri_scheme(uri)
            if scheme is None:
                if not Path(local_path(uri)).exists():
                    raise ValidationError(f"channels[{cname!r}]", f"local path {uri!r} does not exist")
            elif scheme not in storage_schemes:
                accepted = ", ".join(f"{s}://" for s in storage_schemes) or "none"
                raise ValidationError(f"channels[{cname!r}]", f"{scheme}:// URIs cannot be read by this provider",
                                      f"use a local path or one of: {accepted}")
        for key, value in self.hyperparameters.items():   # Azure ML's ${{inputs.X}} resolves on every provider
            for ref in _INPUT_REF.findall(value if isinstance(value, str) else ""):
                if ref not in self.channels:
                    raise ValidationError(f"hyperparameters[{key!r}]", f"refers to ${{{{inputs.{ref}}}}} but there "
                                          f"is no channel {ref!r}", "channels: " + (", ".join(self.channels) or "none"))
        for name in ("checkpoint_uri", "output_uri"):
            uri = getattr(self, name)
            if uri is not None:
                scheme = uri_scheme(uri)
                if scheme is not None and scheme not in storage_schemes:
                    raise ValidationError(name, f"{scheme}:// is not this provider's storage",
                                          "use one of: " + (", ".join(f"{s}://" for s in storage_schemes) or "a local path"))


@dataclass(frozen=True)
class DeploySpec:
    """A trained model to serve: ``model_uri`` (provider storage or local path of ``model.tar.gz``) served by
    the handlers in ``source.entry_point`` (SageMaker names: model_fn/input_fn/predict_fn/output_fn)."""

    model_uri: str
    source: SourceCode | None = None
    framework: str = "pytorch"
    framework_version: str | None = None
    instance_type: str | None = None
    accelerator: str | None = None
    min_replicas: int = 1
    max_replicas: int | None = None
    endpoint_name: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    ttl_seconds: int | None = None
    auth_token: str | None = None
    provider_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model_uri, str) or not self.model_uri.strip():
            raise ValidationError("model_uri", f"must name a model artifact, got {self.model_uri!r}")
        fw = frameworks.canonical_framework(self.framework)
        object.__setattr__(self, "framework", fw)
        object.__setattr__(self, "framework_version", frameworks.canonical_version(fw, self.framework_version))
        _positive_int(self.min_replicas, "min_replicas")
        _positive_int(self.max_replicas, "max_replicas", allow_none=True)
        _positive_int(self.ttl_seconds, "ttl_seconds", allow_none=True)
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValidationError("max_replicas", f"{self.max_replicas} is below min_replicas {self.min_replicas}")
        if self.accelerator is not None:
            accelerators.parse(self.accelerator, "accelerator")
        if self.endpoint_name is not None:
            names.check(self.endpoint_name, "endpoint_name")
        for name in ("environment", "tags", "provider_options"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))
        _check_str_mapping(self.environment, "environment", _ENV_KEY)
        _check_str_mapping(self.tags, "tags")
