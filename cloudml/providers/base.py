"""The provider interface: a handful of keyword-light verbs taking and returning dataclasses.

Invariants every provider keeps (the conformance suite in ``tests/conformance`` checks them):
- ``__init__`` stores options only: no network, no SDK client creation, no bucket creation;
- ``check_features`` refuses, before any request, what the provider cannot do, listing each feature and why
  (capabilities as data: ``unsupported = {Feature.X: "reason"}``);
- ``submit`` creates exactly one job for ``spec.job_name`` (a retried create never makes a second one) and
  returns at once; ``describe_job`` / ``read_logs`` never block;
- request builders are pure functions (spec in, request dict out) so ``--dry-run`` and snapshots show exactly
  what ``submit`` / ``deploy`` send; ``training_request(spec, bundle)`` exposes the training one;
- ``deploy`` that fails part-way deletes what it created before raising.
"""

from __future__ import annotations

import abc
import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from cloudml import names
from cloudml.errors import UnsupportedFeatureError, ValidationError

if TYPE_CHECKING:
    from cloudml.packaging import Bundle
    from cloudml.spec import DeploySpec, TrainingSpec


class JobState(str, enum.Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    COMPLETED = "Completed"
    FAILED = "Failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.STOPPED, JobState.COMPLETED, JobState.FAILED)


class EndpointState(str, enum.Enum):
    CREATING = "Creating"
    IN_SERVICE = "InService"
    UPDATING = "Updating"
    DELETING = "Deleting"
    FAILED = "Failed"


class Feature(str, enum.Enum):
    SPOT = "spot capacity"
    MULTI_NODE = "more than one instance"
    MULTI_PROCESS = "more than one process per node"
    GPU = "GPU accelerators"
    TPU = "TPU accelerators"
    STOP = "stopping a running job"
    CHECKPOINTS = "checkpoint sync"
    PARAMETER_SERVER = "parameter-server distribution"
    AUTOSCALING = "endpoint autoscaling (max_replicas > min_replicas)"
    TENSORFLOW = "TensorFlow"


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one training job as the provider reports it."""

    name: str
    provider: str
    state: JobState
    reason: str | None = None                  # failure / stop reason from the provider
    exit_code: int | None = None
    model_uri: str | None = None               # model.tar.gz (or folder) once COMPLETED
    code_uri: str | None = None                # where the bundle was uploaded
    output_uri: str | None = None
    created_at: float | None = None            # epoch seconds
    started_at: float | None = None
    ended_at: float | None = None
    billable_seconds: float | None = None
    instance_type: str | None = None
    instance_count: int = 1
    region: str | None = None
    spot: bool = False
    framework: str | None = None
    framework_version: str | None = None
    entry_point: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)   # provider-specific facts (ARNs, ids, console URL)

    def _repr_html_(self) -> str:  # Jupyter (cloudml.display)
        from cloudml.display import repr_html

        return repr_html(self)


@dataclass(frozen=True)
class EndpointInfo:
    name: str
    provider: str
    state: EndpointState
    url: str | None = None
    instance_type: str | None = None
    min_replicas: int = 1
    max_replicas: int | None = None
    model_uri: str | None = None
    created_at: float | None = None
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:  # Jupyter (cloudml.display)
        from cloudml.display import repr_html

        return repr_html(self)


@dataclass(frozen=True)
class CloudResource:
    """One billable thing cloudml created (by its ``cloudml-created`` tag/label), for ``cloudml cleanup``.
    ``kind``: ``endpoint``, ``endpoint-config`` or ``model``; ``expires_at`` from the ``cloudml-expires`` tag
    (an endpoint's ``ttl_seconds``)."""

    provider: str
    kind: str
    name: str
    created_at: float | None = None
    expires_at: float | None = None


def _when(value: Any) -> float | None:
    """A tag's time: epoch seconds (``"1790000000"``) or UTC ISO (``"2026-11-23T18:00:00Z"``)."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return float(text)
    import calendar
    import time

    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def expiry_of(info: EndpointInfo) -> float | None:
    """When a ``ttl_seconds`` endpoint expires, from its tags/labels (``cloudml-expires``, or ``cloudml_expires``
    where labels cannot hold a dash-named key) or from ``extra["ttl_seconds"]`` + ``created_at``."""
    tags = {**dict(info.extra.get("labels") or {}), **dict(info.extra.get("tags") or {})}
    when = _when(tags.get("cloudml-expires") or tags.get("cloudml_expires"))
    ttl = info.extra.get("ttl_seconds")
    if when is None and ttl and info.created_at:
        when = info.created_at + float(ttl)
    return when


def features_needed(spec: TrainingSpec | DeploySpec) -> dict[Feature, str]:
    """Which features ``spec`` uses, each with the setting that asks for it."""
    from cloudml.spec import TrainingSpec

    need: dict[Feature, str] = {}
    if isinstance(spec, TrainingSpec):
        res = spec.resources
        if res.spot:
            need[Feature.SPOT] = "resources.spot=True"
        if spec.instance_count > 1:
            need[Feature.MULTI_NODE] = f"instance_count={spec.instance_count}"
        if (spec.processes_per_node or 1) > 1:
            need[Feature.MULTI_PROCESS] = f"processes_per_node={spec.processes_per_node}"
        if spec.effective_distribution == "parameter_server":
            need[Feature.PARAMETER_SERVER] = "distribution='parameter_server'"
        if spec.framework == "tensorflow":
            need[Feature.TENSORFLOW] = "framework='tensorflow'"
        if spec.checkpoint_uri:
            need[Feature.CHECKPOINTS] = f"checkpoint_uri={spec.checkpoint_uri!r}"
        accel = res.accelerator_name
        if accel:
            from cloudml import accelerators

            kind = accelerators.ACCELERATORS[accel].kind
            need[Feature.TPU if kind == "tpu" else Feature.GPU] = f"resources.accelerator={res.accelerator!r}"
    else:
        if spec.max_replicas is not None and spec.max_replicas > spec.min_replicas:
            need[Feature.AUTOSCALING] = f"max_replicas={spec.max_replicas}"
    return need


class Provider(abc.ABC):
    """One managed ML service (or the local machine) behind cloudml's neutral verbs."""

    name: ClassVar[str]
    #: URI schemes this provider's jobs read channels from (local paths are always accepted and uploaded).
    storage_schemes: ClassVar[tuple[str, ...]] = ()
    #: Features this provider cannot do, each with the reason shown to the user.
    unsupported: ClassVar[Mapping[Feature, str]] = {}
    #: This provider's rules for names by kind (``job``, ``endpoint``, ``model``); others use ``names.GENERIC``.
    name_rules: ClassVar[Mapping[str, names.NameRule]] = {}

    #: Types of the options this provider reads (``provider_options`` / ``-C`` / the settings file); a value of
    #: another type is refused by ``__init__`` naming the option, instead of failing later inside a request.
    option_types: ClassVar[Mapping[str, tuple[type, ...]]] = {}

    def __init__(self, **options: Any) -> None:
        for key, value in options.items():
            want = self.option_types.get(key)
            if want and value is not None and not isinstance(value, want):
                kinds = " or ".join(t.__name__ for t in want)
                raise ValidationError(f"provider_options[{key!r}]", f"must be {kinds}, got {type(value).__name__} "
                                      f"{str(value)[:60]!r}", f"e.g. -C {key}=VALUE or {{{key!r}: '...'}}")
        self.options = dict(options)

    # -- capabilities -------------------------------------------------------------------------------------
    def check_features(self, spec: TrainingSpec | DeploySpec) -> None:
        """Raise ``UnsupportedFeatureError`` listing every feature ``spec`` needs that this provider lacks."""
        missing = [
            f"{feature.value} ({setting}): {self.unsupported[feature]}"
            for feature, setting in features_needed(spec).items()
            if feature in self.unsupported
        ]
        if missing:
            raise UnsupportedFeatureError(f"provider {self.name!r}", "cannot run this spec: " + "; ".join(missing))

    def check_name(self, kind: str, value: object, field: str | None = None) -> str:
        """``value`` if it is a valid ``kind`` name here (``job``, ``endpoint``, ``model``); else
        ``ValidationError`` naming ``field`` (default ``<kind>_name``). Call before building a path or request."""
        return names.check(value, field or f"{kind}_name", self.name_rules.get(kind, names.GENERIC))

    def validate(self, spec: TrainingSpec) -> None:
        """Provider-specific checks that need no network (instance types, image availability ...)."""

    # -- training -----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def submit(self, spec: TrainingSpec, bundle: Bundle) -> JobInfo:
        """Upload what is needed and create the job named ``spec.job_name``. Returns without waiting.
        Idempotent: calling it again for the same name returns the existing job."""

    @abc.abstractmethod
    def describe_job(self, name: str) -> JobInfo:
        """The job's current state. Raises ``NotFoundError`` for an unknown name. Never blocks."""

    @abc.abstractmethod
    def read_logs(self, name: str, cursor: Any = None) -> tuple[list[str], Any]:
        """New log lines since ``cursor`` (``None``: from the start) and the cursor to pass next time."""

    @abc.abstractmethod
    def stop_job(self, name: str) -> None:
        """Ask the job to stop; returns at once. Stopping a finished job is a no-op."""

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        return []

    def training_request(self, spec: TrainingSpec, bundle: Bundle) -> dict[str, Any]:
        """The request ``submit(spec, bundle)`` would send, as a JSON-serialisable dict (``cloudml train --dry-run``).

        A pure function of ``spec``, ``bundle`` (its ``name``/``sha256``/``size``, never its upload) and this
        provider's options: no network call, no SDK client, no upload. Where ``submit`` uploads local channel data,
        the request names the URI the upload would produce. Values fixed only at submission time (a creation
        timestamp) are left out or given as the placeholder ``"<at submit>"``; everything else equals what
        ``submit`` sends. Providers that can show their request override this.
        """
        raise NotImplementedError(
            f"provider {self.name!r} cannot show its training request without submitting (no dry run yet)")

    # -- serving ------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def deploy(self, spec: DeploySpec) -> EndpointInfo:
        """Create an endpoint serving ``spec.model_uri`` and wait until it is in service.
        On failure, deletes whatever this call created, then raises."""

    @abc.abstractmethod
    def describe_endpoint(self, name: str) -> EndpointInfo: ...

    @abc.abstractmethod
    def invoke(self, name: str, body: bytes, content_type: str = "application/json",
               accept: str = "application/json") -> bytes:
        """Send one prediction request; return the raw response body. Raises ``EndpointError``."""

    @abc.abstractmethod
    def delete_endpoint(self, name: str) -> None:
        """Delete the endpoint and everything cloudml created for it (config, model). Idempotent."""

    def list_endpoints(self) -> list[EndpointInfo]:
        return []

    # -- cleanup --------------------------------------------------------------------------------------------
    def list_cloudml_resources(self) -> list[CloudResource]:
        """Every billable resource cloudml created (tagged/labelled ``cloudml-created``), endpoints first.
        The default: the endpoints ``list_endpoints`` reports (which lists cloudml's own only); providers whose
        models or configs can outlive their endpoint list those too."""
        return [CloudResource(self.name, "endpoint", e.name, e.created_at, expiry_of(e)) for e in self.list_endpoints()]

    def delete_resource(self, resource: CloudResource) -> None:
        """Delete one resource ``list_cloudml_resources`` returned (an endpoint with all it owns). Idempotent."""
        if resource.kind != "endpoint":
            raise NotImplementedError(f"{self.name} cannot delete a {resource.kind}")
        self.delete_endpoint(resource.name)

    # -- storage ------------------------------------------------------------------------------------------
    def download(self, uri: str, dest: str) -> str:
        """Copy the object at ``uri`` (in this provider's storage) to the local file ``dest``."""
        raise NotImplementedError(f"{self.name} cannot download {uri}")

    def outputs_uri(self, info: JobInfo) -> str | None:
        """Where job ``info`` keeps its outputs (the script's output data dir with its ./outputs and ./logs,
        which the launcher copies there), as ``download`` takes it; None when the provider keeps none."""
        return None

    def download_outputs(self, name: str, dest: str) -> str:
        """Fetch job ``name``'s outputs into the folder ``dest`` (``outputs/``, ``logs/`` and whatever else the
        script wrote to its output data dir). Blocks; read-only. Raises ``NotFoundError`` when there are none."""
        import tempfile

        from cloudml.errors import NotFoundError
        from cloudml.packaging import safe_extract

        info = self.describe_job(name)
        uri = self.outputs_uri(info)
        if not uri:
            raise NotFoundError(f"{self.name} job {name} records no outputs location")
        with tempfile.TemporaryDirectory(prefix="cloudml-outputs-") as tmp:
            archive = self.download(uri, os.path.join(tmp, "outputs.tar.gz"))
            safe_extract(archive, dest)
        return dest

def _normal(value: Any) -> str:
    """One spelling for a hyperparameter value however a provider stored it (``5`` and ``"5"`` agree)."""
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, sort_keys=True)


def spec_differences(info: JobInfo, spec: TrainingSpec, bundle: Bundle | None = None) -> list[str]:
    """What differs between an existing job ``info`` and the ``spec`` submitted again under its name
    (hyperparameters, entry point, framework, instance type and count, code bundle); empty when they agree.

    Fields the provider does not report (``None``) are not compared."""
    diffs: list[str] = []
    given = {k: _normal(v) for k, v in spec.hyperparameters.items()}
    stored = {k: _normal(v) for k, v in (info.hyperparameters or {}).items()}
    if given != stored:
        keys = sorted(k for k in set(given) | set(stored) if given.get(k) != stored.get(k))
        diffs.append("hyperparameters (" + ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else "") + ")")
    for label, have, want in (("entry_point", info.entry_point, spec.source.entry_point),
                              ("framework", info.framework, spec.framework)):
        if have is not None and want is not None and have != want:
            diffs.append(f"{label} ({have!r} there, {want!r} now)")
    have_type, want_type = info.instance_type, spec.resources.instance_type
    if have_type and want_type and want_type not in have_type:  # a provider may report "type+accelerators"
        diffs.append(f"instance_type ({have_type!r} there, {want_type!r} now)")
    if info.instance_count != spec.instance_count:
        diffs.append(f"instance_count ({info.instance_count} there, {spec.instance_count} now)")
    if bundle is not None:
        import re

        stored_sha = re.findall(r"[0-9a-f]{64}", f"{info.code_uri} {info.extra.get('bundle_sha256') or ''}")
        if stored_sha and bundle.sha256 not in stored_sha:
            diffs.append("the code (another bundle)")
    return diffs


def refuse_different_spec(info: JobInfo, spec: TrainingSpec, bundle: Bundle | None = None) -> JobInfo:
    """``info`` when the job already under ``spec.job_name`` was made from the same spec (a retried submit is
    idempotent); ``ValidationError("job_name")`` when it was made from another one."""
    diffs = spec_differences(info, spec, bundle)
    if diffs:
        raise ValidationError("job_name", f"a job named {info.name!r} already exists on {info.provider} with a "
                              f"different spec: {'; '.join(diffs)}",
                              "choose another job_name, or leave it out for a unique one")
    return info
