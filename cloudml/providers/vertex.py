"""Vertex AI provider: custom jobs (GPU, TPU, multi-replica), model upload, endpoints, online prediction.

Talks to Vertex through the GAPIC v1 clients (``google.cloud.aiplatform_v1``) over REST and to Cloud Storage through
google-cloud-storage; both are imported on first use only (``pip install 'cloudml[vertex]'``).

Invariants:
- the constructor stores options only (no network, no client, no credential lookup); ``validate`` needs no network
  and refuses missing project/location/bucket, impossible machine/accelerator combinations and framework versions
  without a Vertex image, listing the valid choices;
- every API call runs under the SDK's own retry (``google.api_core.retry.Retry``: 5xx, 429 rate limits, connection
  errors and timeouts) bounded by ``timeout`` seconds, so an unreachable endpoint fails within the timeout;
  ``RESOURCE_EXHAUSTED`` for quota or capacity is not retried: it raises ``CapacityError`` naming the machine type;
- creates are idempotent: a job is found by its display name (``spec.job_name``) before it is created, inside the
  retried call, so a create whose response was lost is never repeated; models and endpoints are created under
  client-chosen ids (the endpoint name) and ``ALREADY_EXISTS`` returns the existing one;
- every resource carries the labels ``cloudml-created`` (epoch seconds) and ``cloudml-job`` / ``cloudml-endpoint``;
  CMEK (``kms_key_name``) and VPC (``network``, training) pass through; ``deploy`` that fails part-way deletes
  what it created;
- logs: Cloud Logging ``entries.list`` (``resource.type="ml_job"``) when reachable, always interleaved with the
  job's state changes; on failure the reason comes from the launcher's ``<base>/output/failure`` file on GCS,
  falling back to Vertex's ``error.message``.
The container layouts (training command, serving adapter) are described in ``_vertex_requests``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from cloudml import packaging
from cloudml.errors import CloudMLError, ConfigurationError, EndpointError, NotFoundError, ValidationError
from cloudml.providers import _vertex_requests as req
from cloudml.providers._vertex_clients import Clients
from cloudml.providers._vertex_machines import (
    Machine,
    check_image_device,
    choose_machine,
    tf_prediction_image,
    training_image,
)
from cloudml.providers._vertex_storage import tree_digest
from cloudml.providers.base import (
    EndpointInfo,
    EndpointState,
    Feature,
    JobInfo,
    JobState,
    Provider,
    refuse_different_spec,
)
from cloudml.runtime.launcher import parse_argv
from cloudml.spec import DeploySpec, TrainingSpec, make_job_name

# JobState enum values of aiplatform_v1 (ints on the wire).
log = logging.getLogger("cloudml.vertex")
_JOB_STATES = {
    1: JobState.PENDING, 2: JobState.PENDING, 3: JobState.RUNNING, 4: JobState.COMPLETED, 5: JobState.FAILED,
    6: JobState.STOPPING, 7: JobState.STOPPED, 8: JobState.PENDING, 9: JobState.FAILED, 10: JobState.RUNNING,
    11: JobState.FAILED,
}
_EXIT = re.compile(r"non-zero status of (\d+)")
_RESOURCE_EXHAUSTED = 8  # google.rpc.Code: a job refused for quota or stockout (extra["capacity"])

OPTIONS = ("project", "location", "staging_bucket", "service_account", "network", "labels", "api_endpoint",
           "storage_endpoint", "logging_endpoint", "kms_key_name", "timeout", "deploy_timeout", "credentials",
           "image_uri", "serving_image_uri", "poll_interval")
_ENV = {
    "project": ("CLOUDML_VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
    "location": ("CLOUDML_VERTEX_LOCATION", "GOOGLE_CLOUD_REGION", "CLOUD_ML_REGION"),
    "staging_bucket": ("CLOUDML_VERTEX_STAGING_BUCKET",),
    "service_account": ("CLOUDML_VERTEX_SERVICE_ACCOUNT",),
    "network": ("CLOUDML_VERTEX_NETWORK",),
    "api_endpoint": ("CLOUDML_VERTEX_API_ENDPOINT",),
    "storage_endpoint": ("STORAGE_EMULATOR_HOST",),
    "logging_endpoint": ("CLOUDML_VERTEX_LOGGING_ENDPOINT",),
    "kms_key_name": ("CLOUDML_VERTEX_KMS_KEY_NAME",),
    "timeout": ("CLOUDML_VERTEX_TIMEOUT",),
}


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ValidationError(f"provider_options['{name}']", f"must be a positive number of seconds, got {value!r}")
    return seconds


_LOCATION = re.compile(r"^[a-z]+(-[a-z]+)+\d+$")


class VertexProvider(Provider):
    """``provider="vertex"``. Options (each also read from the environment variables in ``_ENV``):
    project, location, staging_bucket (``gs://bucket[/prefix]``), service_account, network
    (``projects/N/global/networks/NAME``), labels, api_endpoint, storage_endpoint, logging_endpoint, kms_key_name,
    timeout (seconds per API call including retries, default 60), deploy_timeout (default 1800), credentials
    (a google-auth object or ``"anonymous"``), image_uri / serving_image_uri (override the prebuilt images),
    poll_interval (``Job.wait`` backoff: first and longest seconds, default (2, 30))."""

    name = "vertex"
    option_types: ClassVar[dict[str, tuple[type, ...]]] = dict.fromkeys(
        ("project", "location", "staging_bucket", "service_account", "network", "kms_key_name"), (str,))
    storage_schemes: ClassVar[tuple[str, ...]] = ("gs",)
    unsupported: ClassVar[dict[Feature, str]] = {
        Feature.PARAMETER_SERVER: "cloudml has no setting for Vertex parameter-server pools; "
                                  "use distribution='multi_worker_mirrored'",
    }

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValidationError("provider_options", f"unknown Vertex option(s): {', '.join(unknown)}",
                                  "known: " + ", ".join(OPTIONS))
        for key, names in _ENV.items():
            if options.get(key) in (None, ""):
                options[key] = next((os.environ[n] for n in names if os.environ.get(n)), None)
        super().__init__(**options)
        self.project: str | None = options["project"]
        self.location: str | None = options["location"]
        bucket = str(options["staging_bucket"] or "")
        bucket = bucket[len("gs://"):] if bucket.startswith("gs://") else bucket
        self.bucket, _, prefix = bucket.strip("/").partition("/")
        self.prefix = (prefix.strip("/") + "/cloudml") if prefix.strip("/") else "cloudml"
        self.service_account = options["service_account"]
        self.network = options["network"]
        labels = options.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in labels.items()):
            raise ValidationError("provider_options['labels']", "must map strings to strings", "e.g. {'team': 'ml'}")
        self.user_labels = dict(labels)
        self.kms_key_name = options["kms_key_name"]
        self.timeout = _seconds(options["timeout"] or 60, "timeout")
        self.deploy_timeout = _seconds(options.get("deploy_timeout") or 1800, "deploy_timeout")
        self.image_uri = options.get("image_uri")
        self.serving_image_uri = options.get("serving_image_uri")
        poll = options.get("poll_interval") or (2.0, 30.0)
        if isinstance(poll, (int, float, str)):
            poll = (poll, max(_seconds(poll, "poll_interval"), 30.0))
        if not isinstance(poll, (tuple, list)) or len(poll) != 2:
            raise ValidationError("provider_options['poll_interval']", f"expected seconds or (first, longest), "
                                  f"got {poll!r}")
        self.poll_interval = (_seconds(poll[0], "poll_interval"), _seconds(poll[1], "poll_interval"))
        self._clients: Clients | None = None
        self._clients_lock = threading.Lock()
        self._job_names: dict[str, str] = {}       # display name -> resource name
        self._failures: dict[str, str | None] = {}  # resource name -> failure file content

    # -- configuration ------------------------------------------------------------------------------------------
    def _require_config(self) -> None:
        missing = [(k, v) for k, v in (("project", self.project), ("location", self.location),
                                       ("staging_bucket", self.bucket)) if not v]
        if missing:
            names = ", ".join(k for k, _ in missing)
            envs = "; ".join(f"{k}: provider_options['{k}'] or ${_ENV[k][0]}" for k, _ in missing)
            raise ConfigurationError(f"Vertex AI needs {names}: set {envs}")
        if not _LOCATION.match(str(self.location)):
            raise ConfigurationError(f"Vertex AI location {self.location!r} is not a region name: set location to "
                                     "one such as us-central1 or europe-west4")

    @property
    def clients(self) -> Clients:
        self._require_config()
        with self._clients_lock:
            if self._clients is None:
                self._clients = Clients(self.options, str(self.project), str(self.location), self.timeout)
        return self._clients

    def _uri(self, *parts: str) -> str:
        return f"gs://{self.bucket}/{self.prefix}/" + "/".join(p.strip("/") for p in parts)

    # -- validation ---------------------------------------------------------------------------------------------
    def machine_for(self, spec: TrainingSpec) -> Machine:
        return choose_machine(spec.resources.instance_type, spec.resources.accelerator)

    def image_for(self, spec: TrainingSpec, machine: Machine) -> str:
        if self.image_uri:
            check_image_device(str(self.image_uri), machine)
            return str(self.image_uri)
        return training_image(spec.framework, str(spec.framework_version), machine.kind, str(self.location))

    def validate(self, spec: TrainingSpec) -> None:
        self._require_config()
        machine = self.machine_for(spec)
        self.image_for(spec, machine)
        region = spec.resources.region
        if region and region != self.location:
            raise ValidationError("resources.region", f"{region!r} differs from this provider's location "
                                  f"{self.location!r}", f"set provider option location={region!r}, or "
                                  f"resources.region={self.location!r}")
        for name in ("output_uri", "checkpoint_uri"):
            uri = getattr(spec, name)
            if uri is not None and not uri.startswith("gs://"):
                raise ValidationError(name, f"{uri!r} is not in Cloud Storage; Vertex jobs write to gs:// only",
                                      "give a gs://bucket/prefix/ URI")
        if spec.max_wait_seconds is not None:
            # Vertex's scheduling.maxWaitDuration applies to the FLEX_START strategy only; sent with SPOT it would
            # do nothing, and a SPOT job has no queue to wait in (it is preempted and restarted instead)
            raise ValidationError("max_wait_seconds", "Vertex AI has no wait limit for this job: "
                                  "scheduling.maxWaitDuration applies only to FLEX_START (Dynamic Workload "
                                  "Scheduler) jobs, not to SPOT or on-demand ones",
                                  "drop max_wait_seconds for Vertex; bound the run with max_run_seconds "
                                  "(scheduling.timeout)")
        if machine.kind == "tpu" and spec.instance_count > 1:
            raise ValidationError("instance_count", "cloudml runs TPU jobs on one Vertex TPU machine",
                                  "use a larger TPU machine (e.g. ct5lp-hightpu-8t) instead of more instances")

    # -- training -----------------------------------------------------------------------------------------------
    def _job_body(self, spec: TrainingSpec, bundle: packaging.Bundle, channels: dict[str, str],
                  created: int) -> dict[str, Any]:
        """The CustomJob body for ``spec``: a pure function of its arguments and this provider's options."""
        job_name = str(spec.job_name)
        machine = self.machine_for(spec)
        base = (spec.output_uri.rstrip("/") + f"/{job_name}/") if spec.output_uri else self._uri(
            "jobs", job_name) + "/"
        return req.custom_job(
            spec, machine=machine, image_uri=self.image_for(spec, machine), code_uri=self._uri("code", bundle.name),
            channels=channels, base_output_uri=base,
            labels=req.labels(created, self.user_labels, spec.tags, cloudml_job=job_name),
            service_account=self.service_account, network=self.network, kms_key_name=self.kms_key_name,
        )

    def _channel_uri(self, uri: str, upload: bool) -> str:
        """A channel's gs:// URI; local data goes under ``data/<tree digest>/`` (uploaded only if ``upload``)."""
        if uri.startswith("gs://"):
            return uri
        local = Path(uri.removeprefix("file://"))
        if upload:
            return self.clients.storage.put_tree(local, self._uri("data"))
        return f"{self._uri('data').rstrip('/')}/{tree_digest(local)[:32]}/"

    def training_request(self, spec: TrainingSpec, bundle: packaging.Bundle) -> dict[str, Any]:
        """The CustomJob ``submit`` would create (``cloudml train --dry-run``); no network call, no upload."""
        self.validate(spec)
        if not spec.job_name:
            raise ValidationError("job_name", "is required", "the Estimator sets it with make_job_name")
        channels = {name: self._channel_uri(uri, upload=False) for name, uri in spec.channels.items()}
        body = self._job_body(spec, bundle, channels, created=0)
        body["labels"][req.CREATED_LABEL] = "<at submit>"
        return body

    def submit(self, spec: TrainingSpec, bundle: packaging.Bundle) -> JobInfo:
        self.validate(spec)
        job_name = spec.job_name
        if not job_name:
            raise ValidationError("job_name", "is required to submit", "the Estimator sets it with make_job_name")
        machine = self.machine_for(spec)
        existing = self._find_job(job_name)
        if existing is not None:
            return refuse_different_spec(self._job_info(existing), spec, bundle)
        c = self.clients
        c.storage.put_file(bundle.path, self._uri("code", bundle.name))
        channels = {name: self._channel_uri(uri, upload=True) for name, uri in spec.channels.items()}
        body = self._job_body(spec, bundle, channels, created=int(time.time()))
        job = c.create_custom_job(body, find=lambda: self._find_job(job_name), instance_type=machine.machine_type)
        first = self._find_job(job_name)
        if first is not None and first.name != job.name:
            # Vertex display names are not unique: a concurrent submit of this name created its job first.
            # The first one is the job of that name; ours is cancelled, then compared with it like any resubmit.
            log.warning("job %s was created concurrently by another submit: cancelling the duplicate %s",
                        job_name, job.name)
            try:
                c.cancel_custom_job(job.name)
            except CloudMLError as exc:
                log.warning("could not cancel the duplicate %s: %s", job.name, exc)
            job = first
        self._job_names[job_name] = job.name
        return refuse_different_spec(self._job_info(job), spec, bundle)  # a retry may have found another's job

    def _find_job(self, name: str) -> Any | None:
        jobs = self.clients.list_custom_jobs(f'display_name="{name}"')
        if not jobs:
            return None
        # the FIRST job created under this display name is the job of that name (later ones are duplicates a
        # concurrent submit cancelled)
        job = min(jobs, key=lambda j: (j.create_time.timestamp() if j.create_time else float("inf"), j.name))
        self._job_names[name] = job.name
        return job

    def _get_job(self, name: str) -> Any:
        if name.startswith("projects/"):
            return self.clients.get_custom_job(name)
        if name in self._job_names:
            return self.clients.get_custom_job(self._job_names[name])
        job = self._find_job(name)
        if job is None:
            raise NotFoundError(f"no Vertex AI custom job named {name!r} in {self.project}/{self.location}")
        return job

    def describe_job(self, name: str) -> JobInfo:
        return self._job_info(self._get_job(name))

    def _failure_text(self, job: Any, base: str | None) -> str | None:
        if job.name not in self._failures:
            self._failures[job.name] = self.clients.storage.read_text(base + "output/failure") if base else None
        return self._failures[job.name]

    def _job_info(self, job: Any) -> JobInfo:
        pools = list(job.job_spec.worker_pool_specs)
        pool0 = pools[0] if pools else None
        container = pool0.container_spec if pool0 else None
        env = {e.name: e.value for e in container.env} if container else {}
        _, hps = parse_argv(list(container.args)) if container else ({}, {})
        state = _JOB_STATES.get(int(job.state), JobState.PENDING)
        base = job.job_spec.base_output_directory.output_uri_prefix or None
        base = base if base is None or base.endswith("/") else base + "/"
        reason = exit_code = None
        if state == JobState.FAILED:
            message = job.error.message or None
            m = _EXIT.search(message or "")
            exit_code = int(m.group(1)) if m else None
            failure = (self._failure_text(job, base) or "").strip()
            reason = failure.splitlines()[0] if failure else message
        elif state == JobState.STOPPED:
            reason = job.error.message or "cancelled"
        machine = pool0.machine_spec if pool0 else None
        ts = {k: (getattr(job, k).timestamp() if getattr(job, k) else None)
              for k in ("create_time", "start_time", "end_time")}
        billable = ts["end_time"] - ts["start_time"] if ts["end_time"] and ts["start_time"] else None
        return JobInfo(
            name=job.display_name, provider=self.name, state=state, reason=reason, exit_code=exit_code,
            model_uri=base + "model/" if base else None, code_uri=env.get("CLOUDML_CODE_URI"), output_uri=base,
            created_at=ts["create_time"], started_at=ts["start_time"], ended_at=ts["end_time"],
            billable_seconds=billable, instance_type=machine.machine_type if machine else None,
            instance_count=sum(int(p.replica_count) for p in pools) or 1, region=self.location,
            spot=int(job.job_spec.scheduling.strategy) == 4,
            framework=env.get("CLOUDML_FRAMEWORK"), framework_version=env.get("CLOUDML_FRAMEWORK_VERSION"),
            entry_point=env.get("CLOUDML_ENTRY_POINT"), hyperparameters=hps,
            extra={"resource_name": job.name, "state": type(job.state)(job.state).name,
                   "error_code": int(job.error.code) or None, "capacity": int(job.error.code) == _RESOURCE_EXHAUSTED,
                   "labels": dict(job.labels), "accelerator": machine.accelerator_type.name if machine else None,
                   "console_url": self.console_url(job.name)},
        )

    def console_url(self, resource: str) -> str:
        job_id = resource.rsplit("/", 1)[-1]
        return (f"https://console.cloud.google.com/vertex-ai/locations/{self.location}/training/{job_id}"
                f"/cpu?project={self.project}")

    def read_logs(self, name: str, cursor: Any = None) -> tuple[list[str], Any]:
        cursor = dict(cursor or {"state": None, "seen": {}, "logging": True})
        job = self._get_job(name)
        lines: list[str] = []
        if cursor.get("logging"):
            try:
                replicas = sum(int(p.replica_count) for p in job.job_spec.worker_pool_specs)
                entries, cursor["seen"] = self.clients.log_entries(job.name.rsplit("/", 1)[-1], cursor.get("seen"),
                                                                   tagged=replicas > 1)
                lines += entries
            except CloudMLError as exc:
                cursor["logging"] = False
                lines.append(f"[vertex] Cloud Logging unavailable ({exc}); showing job state changes only")
        state = type(job.state)(job.state).name
        if state != cursor.get("state"):
            cursor["state"] = state
            line = f"[vertex] {job.display_name}: {state}"
            if job.error.message:
                line += f": {job.error.message}"
            lines.append(line)
            if state == "JOB_STATE_FAILED" and not cursor.get("logging"):  # no log stream: the launcher's tail
                base = job.job_spec.base_output_directory.output_uri_prefix.rstrip("/") + "/"
                lines += (self._failure_text(job, base) or "").strip().splitlines()[1:]
        return lines, cursor

    def stop_job(self, name: str) -> None:
        job = self._get_job(name)
        if _JOB_STATES.get(int(job.state), JobState.PENDING).terminal:
            return
        self.clients.cancel_custom_job(job.name)

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        jobs = self.clients.list_custom_jobs(f"labels.{req.CREATED_LABEL}:*", limit=limit)
        return [self._job_info(j) for j in jobs[:limit]]

    # -- serving ------------------------------------------------------------------------------------------------
    def _serving_machine(self, spec: DeploySpec) -> Machine:
        machine = choose_machine(spec.instance_type or "n1-standard-4", spec.accelerator, field="instance_type")
        if machine.kind == "tpu":
            raise ValidationError("instance_type", "cloudml serves on CPU or GPU Vertex machines only",
                                  "e.g. n1-standard-4, or g2-standard-8 for one L4")
        return machine

    def _artifact_uri(self, model_uri: str) -> str:
        """A gs:// directory holding the model; local directories or model.tar.gz are uploaded first."""
        c = self.clients
        if model_uri.startswith("gs://"):
            if model_uri.endswith((".tar.gz", ".tgz")):
                raise ValidationError("model_uri", "Vertex serves a model directory, not an archive",
                                      "pass the job's model_uri (a gs://.../model/ folder)")
            uri = model_uri if model_uri.endswith("/") else model_uri + "/"
        else:
            local = Path(model_uri.removeprefix("file://"))
            if not local.exists():
                raise ValidationError("model_uri", f"{model_uri!r} does not exist")
            if local.is_file():
                with tempfile.TemporaryDirectory() as tmp:
                    packaging.safe_extract(local, tmp)
                    uri = c.storage.put_tree(Path(tmp), self._uri("models"))
            else:
                uri = c.storage.put_tree(local, self._uri("models"))
        names = [n[len(uri):] for n in c.storage.list(uri)]
        if "saved_model.pb" not in names:  # a versioned SavedModel (<n>/saved_model.pb): serve the newest
            versions = sorted((n.split("/")[0] for n in names if re.fullmatch(r"\d+/saved_model\.pb", n)), key=int)
            if versions:
                uri += versions[-1] + "/"
        return uri

    def deploy(self, spec: DeploySpec) -> EndpointInfo:
        if spec.auth_token:
            raise ValidationError("auth_token", "Vertex AI endpoints are protected by Google IAM, not by a bearer "
                                  "token cloudml chooses", "leave auth_token unset; grant roles/aiplatform.user")
        machine = self._serving_machine(spec)
        name = (spec.endpoint_name or make_job_name("cloudml-endpoint")).lower()
        name = name if name[:1].isalpha() else f"ep-{name}"[:63]
        c = self.clients
        artifact = self._artifact_uri(spec.model_uri)
        device = "gpu" if machine.kind == "gpu" else "cpu"
        now = int(time.time())
        expiry = {"cloudml_expires": str(now + spec.ttl_seconds)} if spec.ttl_seconds else {}
        labels = req.labels(now, self.user_labels, spec.tags, cloudml_endpoint=name, **expiry)
        prebuilt = tf_prediction_image(str(spec.framework_version), device, str(self.location))
        if spec.framework == "tensorflow" and spec.source is None and prebuilt and not self.serving_image_uri:
            body = req.model(name, artifact_uri=artifact, image_uri=prebuilt, labels=labels,
                             environment=spec.environment, kms_key_name=self.kms_key_name)
        else:
            image = self.serving_image_uri or training_image(spec.framework, str(spec.framework_version), device,
                                                             str(self.location))
            code_uri = self._serving_bundle(spec)
            body = req.model(name, artifact_uri=artifact, image_uri=image, labels=labels, code_uri=code_uri,
                             entry_point=spec.source.entry_point if spec.source else "inference.py",
                             environment=spec.environment, kms_key_name=self.kms_key_name)
        created: list[str] = []
        try:
            model_name, new_model = c.upload_model(body, name)
            if new_model:
                created.append(model_name)
            endpoint_name, new_endpoint = c.create_endpoint(
                req.endpoint(name, labels=labels, kms_key_name=self.kms_key_name), name)
            if new_endpoint:
                created.append(endpoint_name)
            if not c.get_endpoint(endpoint_name).deployed_models:
                c.deploy_model(req.deploy_model(endpoint_name, model_name, name, machine=machine,
                                                min_replicas=spec.min_replicas, max_replicas=spec.max_replicas,
                                                service_account=self.service_account), self.deploy_timeout)
        except BaseException:
            for resource in reversed(created):
                c.delete_quietly(resource)
            raise
        return self.describe_endpoint(name)

    def _serving_bundle(self, spec: DeploySpec) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            if spec.source is not None:
                # a source_dir rebuilt by attach() from a bundle holds cloudml's runtime files: leave them out
                runtime = tuple(f"/{name}" + ("/" if "." not in name else "") for name in packaging.RESERVED)
                bundle = packaging.build(spec.source.source_dir, tmp, entry_point=spec.source.entry_point,
                                         ignore=(*spec.source.ignore, *runtime),
                                         allow_secrets=spec.source.allow_secrets)
            else:
                empty = Path(tmp, "empty")
                empty.mkdir()
                bundle = packaging.build(empty, tmp)
            uri = self._uri("code", bundle.name)
            self.clients.storage.put_file(bundle.path, uri)
        return uri

    def _endpoint_resource(self, name: str) -> str:
        if name.startswith("projects/"):
            return name
        return f"{self.clients.parent}/endpoints/{name.lower()}"

    def describe_endpoint(self, name: str) -> EndpointInfo:
        c = self.clients
        ep = c.get_endpoint(self._endpoint_resource(name))
        deployed = list(ep.deployed_models)
        info: dict[str, Any] = {}
        if deployed:
            res = deployed[0].dedicated_resources
            info = {"instance_type": res.machine_spec.machine_type, "min_replicas": int(res.min_replica_count),
                    "max_replicas": int(res.max_replica_count)}
            try:
                info["model_uri"] = c.get_model(deployed[0].model).artifact_uri
            except NotFoundError:
                pass
        return EndpointInfo(
            name=ep.name.rsplit("/", 1)[-1], provider=self.name,
            state=EndpointState.IN_SERVICE if deployed else EndpointState.CREATING,
            url=f"{c.api_endpoint}/v1/{ep.name}:predict",
            created_at=ep.create_time.timestamp() if ep.create_time else None,
            extra={"resource_name": ep.name, "labels": dict(ep.labels),
                   "deployed_models": [d.id for d in deployed], "models": [d.model for d in deployed]},
            **info,
        )

    def invoke(self, name: str, body: bytes, content_type: str = "application/json",
               accept: str = "application/json") -> bytes:
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise EndpointError(f"Vertex :predict takes application/json, not {content_type}", 415)
        if accept.split(";")[0].strip().lower() not in ("application/json", "*/*", ""):
            raise EndpointError(f"Vertex :predict answers application/json, not {accept}", 406)
        try:
            payload = json.loads(body or b"null")
        except ValueError as exc:
            raise EndpointError(f"request body is not JSON: {exc}", 400) from None
        request = req.predict_request(self._endpoint_resource(name), payload)
        predictions = self.clients.predict(request)
        return json.dumps({"predictions": predictions}).encode()

    def delete_endpoint(self, name: str) -> None:
        c = self.clients
        resource = self._endpoint_resource(name)
        models: list[str] = []
        try:
            ep = c.get_endpoint(resource)
        except NotFoundError:
            ep = None
        if ep is not None:
            for deployed in ep.deployed_models:
                models.append(deployed.model)
                c.undeploy_model(resource, deployed.id)
            c.delete(resource)
        own = f"{c.parent}/models/{resource.rsplit('/', 1)[-1]}"
        for model in dict.fromkeys([*models, own]):
            try:
                if req.CREATED_LABEL in c.get_model(model).labels:
                    c.delete(model)
            except NotFoundError:
                pass

    def list_endpoints(self) -> list[EndpointInfo]:
        out = []
        for ep in self.clients.list_endpoints(f"labels.{req.CREATED_LABEL}:*"):
            try:
                out.append(self.describe_endpoint(ep.name))
            except NotFoundError:
                pass
        return out

    # -- storage ------------------------------------------------------------------------------------------------
    def outputs_uri(self, info: JobInfo) -> str | None:
        """The launcher's output dir: ``output/`` beside ``model/`` under the base output directory."""
        return info.output_uri.rstrip("/") + "/output/" if info.output_uri else None

    def download(self, uri: str, dest: str) -> str:
        return self.clients.storage.download(uri, dest)


__all__ = ["VertexProvider"]
