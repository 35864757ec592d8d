"""Azure ML provider: command jobs on a compute cluster (or serverless compute) and managed online endpoints.

Built on azure-ai-ml (``MLClient``, ``command``, ``ManagedOnlineEndpoint``, ``ManagedOnlineDeployment``, ``Model``)
and azure-identity (``DefaultAzureCredential`` unless a credential is given), imported only here and in this
provider's private helpers; a missing SDK raises ``MissingDependencyError("azureml", ...)``.

Options (constructor keywords; ``CLOUDML_AZUREML_<NAME>`` or Azure's usual variables as fallbacks):
``subscription_id`` (``AZURE_SUBSCRIPTION_ID``), ``resource_group`` (``AZURE_RESOURCE_GROUP``), ``workspace``
(``AZUREML_WORKSPACE_NAME``), ``compute`` (cluster name, ``AZUREML_COMPUTE``; omit for serverless compute with
``resources.instance_type``), ``environment`` / ``inference_environment`` (an environment id, an image, or
``{"image", "conda_file"}``; default: cloudml's table in ``_azureml_envs``), ``credential``, ``experiment_name``
(default ``cloudml``), ``tags``, ``datastore`` (default ``workspaceblobstore``), ``public_network_access`` (endpoint)
and ``egress_public_network_access`` (deployment) for network isolation, ``retry_total`` (azure-core retries),
and for sovereign clouds, private endpoints or test rigs ``arm_endpoint``, ``storage_account_url``, ``transport``.
Customer-managed keys are a workspace setting in Azure ML (chosen when the workspace is created): jobs and
endpoints in a CMK workspace are encrypted with it; there is no per-job key to pass.

Invariants: the constructor stores options only (no client, no network); ``validate`` refuses bad input with no
request; ``submit`` reads the compute target before creating anything (an unknown cluster, a GPU environment on a
CPU-only size or spot on a dedicated cluster fail naming the field, with nothing created); the code bundle is
uploaded by azure-ai-ml once per content hash; a retried ``submit`` for the same job name returns the existing job;
``deploy`` deletes the endpoint and the model it registered if any later step fails; transient HTTP faults are
retried by azure-core's ``RetryPolicy`` (``retry_total``), quota refusals become ``CapacityError``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cloudml.errors import (
    CapacityError,
    ConfigurationError,
    MissingDependencyError,
    NotFoundError,
    ValidationError,
)
from cloudml.names import NameRule
from cloudml.providers import _azureml_envs as envs
from cloudml.providers import _azureml_requests as requests
from cloudml.providers._azureml_sdk import credentials_guard as _credentials_guard
from cloudml.providers._azureml_sdk import to_command
from cloudml.providers.base import (
    EndpointInfo,
    EndpointState,
    Feature,
    JobInfo,
    JobState,
    Provider,
    refuse_different_spec,
)
from cloudml.spec import local_path, uri_scheme

if TYPE_CHECKING:
    from cloudml.packaging import Bundle
    from cloudml.spec import DeploySpec, TrainingSpec

log = logging.getLogger("cloudml.providers.azureml")

_STATES = {
    "notstarted": JobState.PENDING, "queued": JobState.PENDING, "preparing": JobState.PENDING,
    "provisioning": JobState.PENDING, "starting": JobState.PENDING, "paused": JobState.PENDING,
    "unknown": JobState.PENDING, "running": JobState.RUNNING, "finalizing": JobState.RUNNING,
    "cancelrequested": JobState.STOPPING, "canceled": JobState.STOPPED, "completed": JobState.COMPLETED,
    "failed": JobState.FAILED, "notresponding": JobState.FAILED,
}
_ENDPOINT_STATES = {"creating": EndpointState.CREATING, "updating": EndpointState.UPDATING,
                    "deleting": EndpointState.DELETING, "failed": EndpointState.FAILED,
                    "succeeded": EndpointState.IN_SERVICE, "canceled": EndpointState.FAILED}
_COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,15}$")
SCORING_CONCURRENCY = 8
_ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
_EXIT_CODE = re.compile(r"exit(?:ed)? with (?:status )?code (\d+)", re.IGNORECASE)
_QUOTA = re.compile(r"quota|QuotaExceeded|OutOfQuota|capacity|SkuNotAvailable|AllocationFailed", re.IGNORECASE)
OPTIONS = ("subscription_id", "resource_group", "workspace", "compute", "environment", "inference_environment",
           "credential", "experiment_name", "tags", "datastore", "public_network_access",
           "egress_public_network_access", "retry_total", "arm_endpoint", "storage_account_url", "transport",
           "default_instance_type")
_ENV_FALLBACKS = {
    "subscription_id": ("AZURE_SUBSCRIPTION_ID",), "resource_group": ("AZURE_RESOURCE_GROUP", "AZUREML_RESOURCE_GROUP"),
    "workspace": ("AZUREML_WORKSPACE_NAME", "AZUREML_WORKSPACE"), "compute": ("AZUREML_COMPUTE",),
    "experiment_name": (), "datastore": (), "arm_endpoint": (), "storage_account_url": (),
}
DEFAULT_SERVING_SIZE = "Standard_DS3_v2"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class AzureMLProvider(Provider):
    """Azure ML command jobs and managed online endpoints behind cloudml's neutral verbs."""

    name = "azureml"
    name_rules: ClassVar[dict[str, NameRule]] = {"endpoint": NameRule(
        re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,61}[A-Za-z0-9]$"),
        "3-63 letters, digits and hyphens, starting with a letter, not ending with a hyphen (names over 32 "
        "characters are shortened at deploy)")}
    option_types: ClassVar[dict[str, tuple[type, ...]]] = dict.fromkeys(
        ("subscription_id", "resource_group", "workspace", "compute", "datastore"), (str,))
    storage_schemes = ("azureml", "https")
    unsupported = {
        Feature.TPU: "Azure has no TPUs; ask for a GPU (e.g. A100:8) instead",
        Feature.PARAMETER_SERVER: "cloudml maps TensorFlow on Azure ML to TensorFlowDistribution workers only; "
                                  "use distribution='multi_worker_mirrored'",
        Feature.AUTOSCALING: "managed online deployments have a fixed instance_count in azure-ai-ml; autoscaling is "
                             "an Azure Monitor autoscale rule set outside cloudml. Deploy with max_replicas=None "
                             "(min_replicas instances) and add the rule in Azure Monitor",
    }

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValidationError("provider_options", f"unknown Azure ML option(s): {', '.join(unknown)}",
                                  "known: " + ", ".join(OPTIONS))
        super().__init__(**options)
        for key, names in _ENV_FALLBACKS.items():
            if self.options.get(key) is None:
                for var in (f"CLOUDML_AZUREML_{key.upper()}", *names):
                    if os.environ.get(var):
                        self.options[key] = os.environ[var]
                        break
        self.options.setdefault("experiment_name", "cloudml")
        self.options["experiment_name"] = self.options["experiment_name"] or "cloudml"
        self.options["datastore"] = self.options.get("datastore") or "workspaceblobstore"
        self.options["tags"] = requests.parse_tags(self.options.get("tags"))
        self._ml: Any = None
        self._ml_lock = threading.RLock()  # MLClient made once, whichever thread asks first
        #: scoring requests in flight at once from this process: a managed deployment serves
        #: ``max_concurrent_requests_per_instance`` at a time and refuses (429) or drops the rest, so threads
        #: sharing one Endpoint queue here instead of storming it
        self._scoring_slots = threading.BoundedSemaphore(SCORING_CONCURRENCY)
        self._blobs: Any = None
        self._http_client: Any = None
        self._keys: dict[str, tuple[str, str]] = {}

    # -- configuration ----------------------------------------------------------------------------------------
    def _require_config(self) -> None:
        missing = [(k, f"CLOUDML_AZUREML_{k.upper()}" + "".join(f" or {v}" for v in _ENV_FALLBACKS[k][:1]))
                   for k in ("subscription_id", "resource_group", "workspace") if not self.options.get(k)]
        if missing:
            raise ConfigurationError("Azure ML needs " + ", ".join(k for k, _ in missing) + ": pass them in "
                                     "provider_options or set " + "; ".join(v for _, v in missing))

    def _client(self) -> Any:
        """The ``MLClient`` (created on first use: this is the first place the SDK is imported)."""
        if self._ml is not None:
            return self._ml
        with self._ml_lock:
            return self._new_client()

    def _new_client(self) -> Any:
        if self._ml is None:
            self._require_config()
            try:
                from azure.ai.ml import MLClient
            except ImportError:
                raise MissingDependencyError("azureml", "azure-ai-ml") from None
            kwargs: dict[str, Any] = {"show_progress": False, "enable_telemetry": False}
            if self.options.get("arm_endpoint"):
                base = str(self.options["arm_endpoint"]).rstrip("/") + "/"
                kwargs["cloud"] = "cloudml-" + re.sub(r"[^a-z0-9]", "", base.lower())[-24:]
                kwargs["cloud_metadata"] = {"azure_portal": base, "resource_manager": base, "active_directory": base,
                                            "aml_resource_id": base, "storage_endpoint": "core.windows.net",
                                            "registry_discovery_endpoint": base}
            if self.options.get("transport") is not None:
                kwargs["transport"] = self.options["transport"]
            if self.options.get("retry_total") is not None:
                kwargs["retry_total"] = int(self.options["retry_total"])
            # azure-ai-ml logs a warning per "experimental" schema class on first use: noise, not news
            logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
            previous = os.environ.get("AZUREML_CURRENT_CLOUD")
            try:
                self._ml = MLClient(self._credential(), self.options["subscription_id"], self.options["resource_group"],
                                    self.options["workspace"], **kwargs)
            finally:  # MLClient records its cloud in the process environment; keep other clients unaffected
                if previous is None:
                    os.environ.pop("AZUREML_CURRENT_CLOUD", None)
                else:
                    os.environ["AZUREML_CURRENT_CLOUD"] = previous
        return self._ml

    def _credential(self) -> Any:
        if self.options.get("credential") is not None:
            return self.options["credential"]
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise MissingDependencyError("azureml", "azure-identity") from None
        self.options["credential"] = DefaultAzureCredential()
        return self.options["credential"]

    def _store(self) -> Any:
        if self._blobs is None:
            from cloudml.providers._azureml_storage import BlobStore

            self._blobs = BlobStore(self._client().datastores, self._credential(), self.options.get("storage_account_url"),
                                    self.options["datastore"])
        return self._blobs

    def _http(self) -> Any:
        """An azure-core pipeline (retry policy + the configured transport) for scoring and log reads."""
        with self._ml_lock:
            if self._http_client is None:
                from azure.core import PipelineClient
                from azure.core.pipeline.policies import HeadersPolicy, RetryPolicy

                total = self.options.get("retry_total")
                # a scoring POST is a prediction (idempotent): retried, like GETs, when the connection drops
                # before an answer (azure-core retries only idempotent methods by default)
                retry = RetryPolicy(retry_total=3 if total is None else int(total), retry_backoff_factor=0.5,
                                    retry_on_methods=frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "POST"}))
                kwargs = {"transport": self.options["transport"]} if self.options.get("transport") is not None else {}
                self._http_client = PipelineClient("https://localhost", policies=[HeadersPolicy(), retry], **kwargs)
        return self._http_client

    def _arm_url(self, rel: str) -> str:
        base = str(self.options.get("arm_endpoint") or "https://management.azure.com").rstrip("/")
        return (f"{base}/subscriptions/{self.options['subscription_id']}/resourceGroups/{self.options['resource_group']}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{self.options['workspace']}{rel}")

    # -- validation (no network) -------------------------------------------------------------------------------
    def validate(self, spec: TrainingSpec) -> None:
        self._require_config()
        compute = self.options.get("compute")
        itype = spec.resources.instance_type
        if compute is not None and not (isinstance(compute, str) and _COMPUTE_NAME.match(compute)):
            raise ValidationError("provider_options.compute", f"{compute!r} is not an Azure ML compute name",
                                  "2-16 letters, digits and hyphens, starting with a letter (e.g. 'gpu-cluster'); "
                                  "omit it to use serverless compute with resources.instance_type")
        if itype is None and compute is None:
            raise ValidationError("resources.instance_type", "is needed for Azure ML serverless compute",
                                  "give an Azure VM size such as Standard_DS3_v2 or Standard_NC24ads_A100_v4, "
                                  "or provider_options.compute='<cluster name>'")
        if itype is not None:
            self._check_size(itype, "resources.instance_type")
        if spec.framework == "tensorflow" and (spec.processes_per_node or 1) > 1:
            raise ValidationError("processes_per_node", "Azure ML starts one TensorFlow worker per node",
                                  "use instance_count for more workers and leave processes_per_node unset")
        requests.distribution(spec, 0)
        requests.check_references(spec)
        for name in ("checkpoint_uri", "output_uri"):
            uri = getattr(spec, name)
            if uri is not None and uri_scheme(uri) != "azureml":
                raise ValidationError(name, f"{uri!r} cannot be a job output folder on Azure ML",
                                      "use a datastore path: azureml://datastores/<datastore>/paths/<path>/")
        for name, uri in spec.channels.items():
            if uri_scheme(uri) == "https" and ".blob." not in uri and not self._is_storage_override(uri):
                raise ValidationError(f"channels[{name!r}]", f"{uri!r} is not an Azure blob URL",
                                      "use https://<account>.blob.core.windows.net/<container>/<path> or azureml://")
        if itype is not None:
            env = self._training_env(spec, envs.gpu_count(itype))
            self._check_env_on_size(env, itype, "provider_options.environment")
            if spec.resources.accelerator and not envs.gpu_count(itype):
                raise ValidationError("resources.instance_type", f"{itype} has no GPU but resources.accelerator="
                                      f"{spec.resources.accelerator!r} asks for one",
                                      "GPU sizes: " + ", ".join(envs.known_sizes(gpu=True)[:6]))

    def _is_storage_override(self, uri: str) -> bool:
        url = self.options.get("storage_account_url")
        return bool(url) and uri.startswith(str(url))

    @staticmethod
    def _check_size(itype: str, field: str) -> None:
        if not envs.is_vm_name(itype):
            raise ValidationError(field, f"{itype!r} is not an Azure VM size",
                                  "e.g. " + ", ".join(envs.known_sizes()[:4] + envs.known_sizes(gpu=True)[:3]))

    def _training_env(self, spec: TrainingSpec, gpus: int) -> envs.EnvChoice:
        if self.options.get("environment") is not None:
            return envs.user_environment(self.options["environment"], "provider_options.environment")
        return envs.training_environment(spec.framework, str(spec.framework_version), gpus > 0)

    @staticmethod
    def _check_env_on_size(env: envs.EnvChoice, itype: str, field: str) -> None:
        if env.gpu and not envs.gpu_count(itype):
            raise ValidationError(field, f"{env.describe()} is a GPU environment but {itype} has no GPU",
                                  "choose a GPU size (" + ", ".join(envs.known_sizes(gpu=True)[:4]) +
                                  ") or a CPU environment")

    # -- training ---------------------------------------------------------------------------------------------
    @_credentials_guard
    def submit(self, spec: TrainingSpec, bundle: Bundle) -> JobInfo:
        """Create the command job ``spec.job_name`` (or return it if it exists). Reads the compute target first."""
        self.validate(spec)
        ml = self._client()
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

        try:
            return refuse_different_spec(self._job_info(ml.jobs.get(spec.job_name)), spec, bundle)
        except ResourceNotFoundError:
            pass
        compute = self.options.get("compute")
        itype = self._check_cluster(compute, spec.resources.instance_type, spec.resources.spot) if compute \
            else spec.resources.instance_type
        assert itype is not None
        inputs = {name: uri if uri_scheme(uri) else self._store().upload_local(local_path(uri), self.options["datastore"])
                  for name, uri in spec.channels.items()}
        req = self._request(spec, bundle, itype, inputs, _now_iso())
        self._code_dir(bundle)
        try:
            created = ml.jobs.create_or_update(to_command(req))
        except HttpResponseError as exc:
            translated = self._translate(exc, itype)
            if translated is not exc:
                raise translated from None
            if not isinstance(exc, ResourceExistsError):
                raise
            created = ml.jobs.get(spec.job_name)  # a create retried after it succeeded: the same job
            return refuse_different_spec(self._job_info(created), spec, bundle)
        log.info("submitted Azure ML job %s on %s", spec.job_name, compute or f"serverless {itype}")
        # read back: a concurrent submit of this name that wrote after us makes the job not ours
        return refuse_different_spec(self._job_info(ml.jobs.get(spec.job_name)), spec, bundle)

    def training_request(self, spec: TrainingSpec, bundle: Bundle) -> dict[str, Any]:
        """What ``submit`` hands to azure-ai-ml's ``command()`` (no network, no SDK). With a cluster and no
        ``resources.instance_type`` the VM size is the cluster's, known only at submission."""
        self.validate(spec)
        from cloudml.providers._azureml_storage import planned_uri

        itype = spec.resources.instance_type or "<the cluster's VM size>"
        inputs = {name: uri if uri_scheme(uri) else planned_uri(local_path(uri), self.options["datastore"])
                  for name, uri in spec.channels.items()}
        return self._request(spec, bundle, itype, inputs, "<at submit>")

    def _request(self, spec: TrainingSpec, bundle: Bundle, itype: str, inputs: Mapping[str, str],
                 created_at: str) -> dict[str, Any]:
        gpus = envs.gpu_count(itype)
        env = self._training_env(spec, gpus)
        self._check_env_on_size(env, itype, "provider_options.environment")
        compute = self.options.get("compute")
        return requests.job_request(
            spec, code=str(self._code_path(bundle)), inputs=inputs, environment=env, compute=compute,
            instance_type=itype, gpus=gpus, datastore=self.options["datastore"],
            experiment_name=self.options["experiment_name"], tags=self.options.get("tags") or {},
            created_at=created_at, bundle_sha256=bundle.sha256, spot_tier=spec.resources.spot and not compute)

    def _check_cluster(self, compute: str, itype: str | None, spot: bool) -> str:
        from azure.core.exceptions import ResourceNotFoundError

        ml = self._client()
        try:
            cluster = ml.compute.get(compute)
        except ResourceNotFoundError:
            names = sorted(c.name for c in ml.compute.list())
            raise ValidationError("provider_options.compute", f"no compute named {compute!r} in workspace "
                                  f"{self.options['workspace']!r}", "choose one of: " + (", ".join(names) or
                                  "none (create a cluster, or omit compute to use serverless compute)")) from None
        size = getattr(cluster, "size", None) or ""
        if itype and size and itype.lower() != size.lower():
            raise ValidationError("resources.instance_type", f"{itype} was asked for but cluster {compute!r} runs "
                                  f"{size}", "leave instance_type unset, pick that size, or choose another cluster")
        tier = str(getattr(cluster, "tier", "") or "").lower().replace("_", "")
        if spot and tier != "lowpriority":
            raise ValidationError("resources.spot", f"cluster {compute!r} is a dedicated cluster",
                                  "use a low-priority cluster or omit compute (serverless compute with the Spot tier)")
        return itype or size  # the user's spelling when it names the cluster's size

    @staticmethod
    def _code_path(bundle: Bundle) -> Path:
        return Path(tempfile.gettempdir()) / "cloudml-azureml" / bundle.sha256[:20] / "cloudml-code"

    def _code_dir(self, bundle: Bundle) -> Path:
        """The bundle extracted once per hash: azure-ai-ml uploads a folder, keyed by its content hash."""
        from cloudml.packaging import safe_extract

        code = self._code_path(bundle)
        if not (code.parent / ".ready").exists():
            safe_extract(bundle.path, code)
            (code.parent / ".ready").touch()
        return code

    def _translate(self, exc: Exception, instance_type: str | None) -> Exception:
        error = getattr(exc, "error", None)
        message = getattr(error, "message", None) or str(exc).splitlines()[0]
        code = getattr(error, "code", "") or ""
        if _QUOTA.search(f"{code} {message}"):
            return CapacityError(self.name, instance_type or "unknown instance type", message.splitlines()[0])
        return exc

    @_credentials_guard
    def describe_job(self, name: str) -> JobInfo:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            job = self._client().jobs.get(name)
        except ResourceNotFoundError:
            raise NotFoundError(f"no Azure ML job named {name!r} in workspace {self.options['workspace']!r}") from None
        return self._job_info(job)

    def _run_details(self, name: str) -> Any:
        # jobs.stream() reads the run-history service this way; azure-ai-ml has no public accessor for it.
        return self._client().jobs._runs_operations.get_run_details(name)

    def _job_info(self, job: Any) -> JobInfo:
        status = str(getattr(job.status, "value", job.status) or "unknown")
        state = _STATES.get(status.lower(), JobState.PENDING)
        props = dict(job.properties or {})
        reason = exit_code = None
        if state == JobState.FAILED:
            try:
                err = self._run_details(job.name).error
                reason = err.error.message if err is not None and err.error is not None else None
            except Exception as exc:  # the reason is a nicety: never hide the state because of it
                log.debug("no run details for %s: %s", job.name, exc)
            m = _EXIT_CODE.search(reason or "")
            exit_code = int(m.group(1)) if m else None
            reason = reason or f"Azure ML reports the job {status}"
        elif state == JobState.STOPPED:
            reason = "canceled"
        outputs = job.outputs or {}
        model = outputs.get("model")
        created = getattr(getattr(job, "creation_context", None), "created_at", None)
        resources = getattr(job, "resources", None)
        hps = props.get("cloudml.hyperparameters")
        return JobInfo(
            name=job.name, provider=self.name, state=state, reason=reason, exit_code=exit_code,
            model_uri=getattr(model, "path", None), code_uri=getattr(job, "code", None),
            output_uri=getattr(outputs.get("output"), "path", None),
            created_at=created.timestamp() if created is not None and hasattr(created, "timestamp") else None,
            instance_type=props.get("cloudml.instance_type") or getattr(resources, "instance_type", None),
            instance_count=int(props.get("cloudml.instance_count") or getattr(resources, "instance_count", 1) or 1),
            spot=props.get("cloudml.spot") == "true",
            framework=props.get("cloudml.framework"), framework_version=props.get("cloudml.framework_version"),
            entry_point=props.get("cloudml.entry_point"), hyperparameters=json.loads(hps) if hps else {},
            extra={"status": status, "compute": getattr(job, "compute", None),
                   "bundle_sha256": props.get("cloudml.bundle_sha256"),
                   "experiment_name": getattr(job, "experiment_name", None), "studio_url": job.studio_url,
                   "tags": dict(job.tags or {})},
        )

    @_credentials_guard
    def read_logs(self, name: str, cursor: Any = None) -> tuple[list[str], Any]:
        """New lines of the job's ``user_logs/`` files (one per process) since ``cursor``."""
        from azure.core.exceptions import ResourceNotFoundError

        offsets: dict[str, int] = dict(cursor or {})
        try:
            files = dict(self._run_details(name).log_files or {})
        except ResourceNotFoundError:
            return [], offsets
        files = {k: v for k, v in files.items() if k.startswith("user_logs/")}
        lines: list[str] = []
        for fname in sorted(files):
            data = self._read_from(files[fname], offsets.get(fname, 0))
            cut = data.rfind(b"\n") + 1
            if not cut:
                continue
            offsets[fname] = offsets.get(fname, 0) + cut
            prefix = "" if len(files) == 1 else f"[{fname.rsplit('/', 1)[-1].removesuffix('.txt')}] "
            lines += [prefix + line for line in data[:cut].decode("utf-8", "replace").splitlines()]
        return lines, offsets

    def _read_from(self, url: str, offset: int) -> bytes:
        from azure.core.rest import HttpRequest

        req = HttpRequest("GET", url, headers={"Range": f"bytes={offset}-", "x-ms-version": "2021-08-06"})
        resp = self._http().send_request(req)
        if resp.status_code == 416:
            return b""
        if resp.status_code >= 400:
            log.debug("log file read failed with %s", resp.status_code)
            return b""
        data = resp.read()
        return data if resp.status_code == 206 or offset == 0 else data[offset:]

    @_credentials_guard
    def stop_job(self, name: str) -> None:
        info = self.describe_job(name)
        if info.state.terminal or info.state == JobState.STOPPING:
            return
        self._client().jobs.begin_cancel(name)

    @_credentials_guard
    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        out = []
        for job in self._client().jobs.list():
            if "cloudml-job" in (job.tags or {}):
                out.append(self._job_info(job))
                if len(out) >= limit:
                    break
        return out

    # -- storage ----------------------------------------------------------------------------------------------
    @_credentials_guard
    def outputs_uri(self, info: JobInfo) -> str | None:
        """The job's ``output`` output (``${{outputs.output}}``, where the launcher copies ./outputs and ./logs)."""
        return info.output_uri

    def download(self, uri: str, dest: str) -> str:
        """A datastore path or blob URL -> ``dest`` (a folder, such as a job's model, asked for as ``*.tar.gz`` is
        archived, paths relative to the folder); a job's ``code_uri`` (a code asset id) -> ``dest`` as a
        ``.tar.gz`` of that code snapshot, which is what ``Estimator.attach`` rebuilds an estimator from."""
        m = re.search(r"/codes/([^/]+)/versions/([^/]+)$", uri)
        if m:
            from cloudml.packaging import tar_dir

            path = self._client()._code.get(m.group(1), version=m.group(2)).path  # MLClient has no public .code
            with tempfile.TemporaryDirectory(prefix="cloudml-code-") as tmp:
                self._store().download(path.rstrip("/") + "/", tmp)
                tar_dir(tmp, dest)
            return dest
        if dest.endswith((".tar.gz", ".tgz")) and not uri.rstrip("/").endswith((".tar.gz", ".tgz")):
            from cloudml.packaging import tar_dir

            with tempfile.TemporaryDirectory(prefix="cloudml-download-") as tmp:  # a folder asked for as an archive
                self._store().download(uri.rstrip("/") + "/", tmp)
                tar_dir(tmp, dest)
            return dest
        return self._store().download(uri, dest)

    # -- serving (in _azureml_deploy to keep this module small) -------------------------------------------------
    @_credentials_guard
    def deploy(self, spec: DeploySpec) -> EndpointInfo:
        from cloudml.providers._azureml_deploy import deploy

        return deploy(self, spec)

    @_credentials_guard
    def describe_endpoint(self, name: str) -> EndpointInfo:
        from cloudml.providers._azureml_deploy import describe_endpoint

        return describe_endpoint(self, name)

    @_credentials_guard
    def invoke(self, name: str, body: bytes, content_type: str = "application/json",
               accept: str = "application/json") -> bytes:
        from cloudml.providers._azureml_deploy import invoke

        return invoke(self, name, body, content_type, accept)

    @_credentials_guard
    def delete_endpoint(self, name: str) -> None:
        from cloudml.providers._azureml_deploy import delete_endpoint

        delete_endpoint(self, name)

    @_credentials_guard
    def list_endpoints(self) -> list[EndpointInfo]:
        from cloudml.providers._azureml_deploy import list_endpoints

        return list_endpoints(self)

    # -- used by _azureml_deploy ---------------------------------------------------------------------------------
    endpoint_name_pattern = _ENDPOINT_NAME
    endpoint_states = _ENDPOINT_STATES
    default_serving_size = DEFAULT_SERVING_SIZE
