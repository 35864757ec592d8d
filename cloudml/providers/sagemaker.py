"""Amazon SageMaker through boto3: training jobs, CloudWatch logs, real-time endpoints with autoscaling.

How the job runs in the container: the AWS Deep Learning Container's **script mode**. The request sets the
hyperparameters ``sagemaker_program=cloudml_launcher.py`` and ``sagemaker_submit_directory=s3://.../<sha>.tar.gz``;
the DLC's training toolkit downloads and extracts the bundle, installs ``requirements.txt``, and runs
``python cloudml_launcher.py --key value ...`` on every host with the user's hyperparameters (every value JSON
text, as the SageMaker SDK sends them; the launcher reads ``hyperparameters.json`` for the user's exact values),
while the launcher's own options (entry point, framework, distribution, processes per node) travel in the job's
``Environment``. Serving (PyTorch): the model's ``code/`` carries ``cloudml_runtime/`` and the shim
``cloudml_inference.py`` as ``SAGEMAKER_PROGRAM``, so the image's inference toolkit runs the user's handlers with
cloudml's defaults (``cloudml/runtime/sagemaker_shim.py``).
Why script mode rather than an entrypoint override: it is the images' documented contract (no shell command in
the request, no reliance on boto3 inside the image), the console shows the user's hyperparameters as given, and
"clone job" in the console works. Under ``network_isolation=True`` the container cannot reach S3, so the bundle
also travels as the ``cloudml_code`` input channel and ``sagemaker_submit_directory`` names the local copy, as the
SageMaker SDK does.

Invariants:
- the constructor stores options only (no client, no STS call, no bucket creation); ``validate`` checks every
  setting and the image offline and raises before any request;
- the bundle is stored at ``s3://<bucket>/<prefix>/code/<sha256>.tar.gz`` and not uploaded again when there;
  local channel data goes to ``.../data/<tree-hash>/`` and only missing files are uploaded;
- ``submit`` is idempotent: an existing job of that name is returned, and a create that botocore retried after
  the first attempt got through ("already exists") returns that job;
- retries are botocore's (``retry_mode``/``max_attempts``), never a hand loop; AWS errors become cloudml errors:
  refused or expired credentials -> ``CredentialsError``, ``ResourceLimitExceeded`` -> ``CapacityError`` naming
  the instance type, unknown names -> ``NotFoundError``;
- ``deploy`` creates model, endpoint config and endpoint named after the endpoint and deletes what it created if
  any step fails; ``delete_endpoint`` removes the endpoint, its config, its models and the scaling target.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cloudml import packaging
from cloudml.errors import (
    CloudMLError,
    ConfigurationError,
    CredentialsError,
    EndpointError,
    MissingDependencyError,
    NotFoundError,
    ValidationError,
    WaitTimeoutError,
    how_to_set,
)
from cloudml.providers import _sagemaker_requests as rq
from cloudml.providers._sagemaker_config import SageMakerSettings, image_uri
from cloudml.providers._sagemaker_serving import SHIM_PROGRAM, add_serving_shim
from cloudml.providers.base import (
    EndpointInfo,
    EndpointState,
    Feature,
    JobInfo,
    Provider,
    refuse_different_spec,
)
from cloudml.spec import local_path, make_job_name, uri_scheme

if TYPE_CHECKING:
    from cloudml.packaging import Bundle
    from cloudml.spec import DeploySpec, TrainingSpec

log = logging.getLogger("cloudml.sagemaker")

def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValidationError("uri", f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


class SageMakerProvider(Provider):
    name = "sagemaker"
    option_types: ClassVar[dict[str, tuple[type, ...]]] = dict.fromkeys(
        ("region", "role_arn", "bucket", "prefix", "kms_key_id", "profile"), (str,))
    storage_schemes = ("s3",)
    unsupported = {
        Feature.TPU: "SageMaker has no TPUs (use provider='vertex')",
        Feature.PARAMETER_SERVER: "the launcher runs TensorFlow multi-worker on SageMaker; use "
                                  "distribution='multi_worker_mirrored'",
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.settings = SageMakerSettings.from_options(options)
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()  # boto3 sessions are not thread-safe; clients are

    @property
    def region(self) -> str | None:
        """The region every request goes to (jobs, buckets and endpoints must all be in it)."""
        return self.settings.region

    @property
    def poll_interval(self) -> tuple[float, float]:
        """(first, longest) wait between status polls, read by ``Job.wait``."""
        return self.settings.poll_interval, self.settings.max_poll_interval

    # -- clients and errors ---------------------------------------------------------------------------------
    def _client(self, service: str) -> Any:
        if service in self._clients:
            return self._clients[service]
        with self._clients_lock:
            return self._new_client(service)

    def _new_client(self, service: str) -> Any:
        if service not in self._clients:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise MissingDependencyError("sagemaker", "boto3") from None
            s = self.settings
            url = s.endpoint_url.get(service) if isinstance(s.endpoint_url, Mapping) else s.endpoint_url
            config = Config(retries={"mode": s.retry_mode, "max_attempts": s.max_attempts},
                            connect_timeout=s.connect_timeout, read_timeout=s.read_timeout,
                            user_agent_extra="cloudml", s3={"addressing_style": "path"} if url else None)
            with self._aws("connect"):
                session = boto3.session.Session(profile_name=s.profile, region_name=s.region)
                if session.region_name is None:  # botocore's NoRegionError would surface as "unexpected"
                    raise ConfigurationError("SageMaker needs a region: set it with "
                                             f"{how_to_set('sagemaker', 'region', 'us-east-1')}; or AWS_REGION")
                self._clients[service] = session.client(service, endpoint_url=url, config=config)
        return self._clients[service]

    @contextlib.contextmanager
    def _aws(self, what: str, instance_type: str | None = None) -> Iterator[None]:
        """Turn botocore errors raised inside the block into cloudml errors."""
        try:
            from boto3.exceptions import S3UploadFailedError
            from botocore import exceptions as bx
        except ImportError:
            raise MissingDependencyError("sagemaker", "boto3") from None

        try:
            yield
        except (bx.ClientError, S3UploadFailedError) as exc:
            client_error = exc if isinstance(exc, bx.ClientError) else exc.__context__   # upload_file wraps it
            if not isinstance(client_error, bx.ClientError):
                raise CloudMLError(f"{what} failed: {exc}") from exc
            err = client_error.response.get("Error", {})
            raise rq.translate_error(str(err.get("Code", "")), str(err.get("Message", "")), what,
                                     instance_type=instance_type, bucket=self.settings.bucket) from exc
        except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
            raise CredentialsError(f"no usable AWS credentials for {what}: {exc}. Set AWS_PROFILE, run "
                                   "'aws configure' / 'aws sso login', or export AWS_ACCESS_KEY_ID") from exc
        except bx.ProfileNotFound as exc:
            raise ConfigurationError(f"{exc}: set profile to a profile in ~/.aws/config") from exc
        except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
            raise CloudMLError(f"cannot reach AWS for {what} after retries: {exc}") from exc

    @staticmethod
    def _already_exists(exc: BaseException) -> bool:
        cause = exc.__cause__
        err = getattr(cause, "response", {}).get("Error", {}) if cause is not None else {}
        return rq.already_exists(str(err.get("Code", "")), str(err.get("Message", "")))

    # -- validation -----------------------------------------------------------------------------------------
    def _region_settings(self, region: str | None) -> None:
        if region and not self.settings.region:
            self.settings = dataclasses.replace(self.settings, region=region)
            self._clients.clear()
        elif region and region != self.settings.region:
            raise ValidationError("resources.region", f"{region!r} differs from the provider's region "
                                  f"{self.settings.region!r}", "set provider_options region to the same value")

    def validate(self, spec: TrainingSpec) -> None:
        self._region_settings(spec.resources.region)
        rq.validate_training(spec, self.settings)

    # -- storage --------------------------------------------------------------------------------------------
    def _extra_args(self) -> dict[str, str]:
        if self.settings.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.settings.kms_key_id}
        return {}

    def _exists(self, bucket: str, key: str, size: int | None = None) -> bool:
        try:
            with self._aws(f"checking s3://{bucket}/{key}"):
                head = self._client("s3").head_object(Bucket=bucket, Key=key)
        except NotFoundError:
            return False
        return size is None or head.get("ContentLength") == size

    def _upload_file(self, path: Path, uri: str, skip_if_present: bool = True) -> bool:
        """Upload unless an object of the same size is already there (keys carry content hashes)."""
        bucket, key = split_s3(uri)
        if skip_if_present and self._exists(bucket, key, path.stat().st_size):
            return False
        with self._aws(f"uploading to {uri}"):
            self._client("s3").upload_file(str(path), bucket, key, ExtraArgs=self._extra_args() or None)
        return True

    def upload_bundle(self, bundle: Bundle) -> str:
        uri = self.settings.s3_uri("code", bundle.name)
        uploaded = self._upload_file(Path(bundle.path), uri)
        log.info("%s bundle %s (%d bytes)", "uploaded" if uploaded else "reused", uri, bundle.size)
        return uri

    def channel_uri(self, path: str) -> tuple[str, list[tuple[Path, str]]]:
        """Where local data goes: ``s3://.../data/<tree hash>/`` and its (file, relative name) pairs. No I/O
        beyond reading the local files."""
        root = Path(local_path(path))
        files = [(root, root.name)] if root.is_file() else [
            (f, f.relative_to(root).as_posix()) for f in sorted(root.rglob("*")) if f.is_file()]
        digest = hashlib.sha256()
        for f, rel in files:
            digest.update(rel.encode() + b"\0" + packaging.file_sha256(f).encode() + b"\n")
        return self.settings.s3_uri("data", digest.hexdigest()[:32]) + "/", files

    def upload_channel(self, path: str) -> str:
        """A local file or folder -> ``s3://.../data/<tree hash>/``; files already there are not sent again."""
        base, files = self.channel_uri(path)
        bucket, prefix = split_s3(base)
        present: dict[str, int] = {}
        with self._aws(f"listing {base}"):
            for page in self._client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                present.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        for f, rel in files:
            if present.get(prefix + rel) != f.stat().st_size:
                self._upload_file(f, base + rel, skip_if_present=False)
        return base

    def outputs_uri(self, info: JobInfo) -> str | None:
        """SageMaker tars /opt/ml/output/data to ``{S3OutputPath}/{job}/output/output.tar.gz``."""
        return f"{info.output_uri.rstrip('/')}/{info.name}/output/output.tar.gz" if info.output_uri else None

    def download(self, uri: str, dest: str) -> str:
        bucket, key = split_s3(uri)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        with self._aws(f"downloading {uri}"):
            self._client("s3").download_file(bucket, key, dest)
        return dest

    # -- training -------------------------------------------------------------------------------------------
    def training_request(self, spec: TrainingSpec, bundle: Bundle,
                         channels: dict[str, str] | None = None) -> dict[str, Any]:
        """The CreateTrainingJob request ``submit`` would send (``cloudml train --dry-run``, snapshots). No AWS
        call: local channel data is named by the ``data/<tree hash>/`` URI its upload would produce."""
        self._region_settings(spec.resources.region)
        image = rq.validate_training(spec, self.settings)
        if channels is None:
            channels = {name: uri if uri_scheme(uri) == "s3" else self.channel_uri(uri)[0]
                        for name, uri in spec.channels.items()}
        return rq.training_job_request(spec, self.settings, image=image,
                                       code_uri=self.settings.s3_uri("code", bundle.name), channels=channels,
                                       created="<at submit>")

    def submit(self, spec: TrainingSpec, bundle: Bundle) -> JobInfo:
        self._region_settings(spec.resources.region)
        image = rq.validate_training(spec, self.settings)
        name = str(spec.job_name)   # validate_training refused None
        with contextlib.suppress(NotFoundError):
            return refuse_different_spec(self.describe_job(name), spec, bundle)
        code_uri = self.upload_bundle(bundle)
        channels = {name: uri if uri_scheme(uri) == "s3" else self.upload_channel(uri)
                    for name, uri in spec.channels.items()}
        request = rq.training_job_request(spec, self.settings, image=image, code_uri=code_uri, channels=channels,
                                          created=rq.epoch_now())
        try:
            with self._aws(f"CreateTrainingJob {name}", spec.resources.instance_type):
                self._client("sagemaker").create_training_job(**request)
        except CloudMLError as exc:
            if not self._already_exists(exc):
                raise
            log.info("job %s already existed (a retried or concurrent create): attaching to it", name)
        # read back (also after our own create): the job of that name must be the one this spec describes
        return refuse_different_spec(self.describe_job(name), spec, bundle)

    def describe_job(self, name: str) -> JobInfo:
        with self._aws(f"training job {name}"):
            desc = self._client("sagemaker").describe_training_job(TrainingJobName=name)
        return rq.job_info(desc, self.settings.region)

    def read_logs(self, name: str, cursor: Any = None) -> tuple[list[str], Any]:
        """Lines from every ``<job>/algo-N-*`` stream; with several hosts each line starts with ``[algo-N]``.
        The cursor maps stream name -> CloudWatch forward token."""
        logs = self._client("logs")
        tokens: dict[str, str] = dict(cursor or {})
        streams: list[str] = []
        try:
            with self._aws(f"logs of {name}"):
                for page in logs.get_paginator("describe_log_streams").paginate(
                        logGroupName=rq.LOG_GROUP, logStreamNamePrefix=name + "/"):
                    streams += [s["logStreamName"] for s in page.get("logStreams", [])]
        except NotFoundError:   # the log group appears with the first job of the account
            return [], tokens
        lines: list[str] = []
        for stream in sorted(streams):
            host = stream[len(name) + 1:].rsplit("-", 1)[0]
            prefix = f"[{host}] " if len(streams) > 1 else ""
            token = tokens.get(stream)
            while True:
                kwargs: dict[str, Any] = {"logGroupName": rq.LOG_GROUP, "logStreamName": stream,
                                          "startFromHead": True}
                if token:
                    kwargs["nextToken"] = token
                with self._aws(f"logs of {name}"):
                    page = logs.get_log_events(**kwargs)
                lines += [prefix + e["message"].rstrip("\n") for e in page.get("events", [])]
                new = page.get("nextForwardToken")
                done = not page.get("events") or new == token
                token = new or token
                if done:
                    break
            if token:
                tokens[stream] = token
        return lines, tokens

    def stop_job(self, name: str) -> None:
        try:
            with self._aws(f"StopTrainingJob {name}"):
                self._client("sagemaker").stop_training_job(TrainingJobName=name)
        except NotFoundError:
            raise
        except CloudMLError:
            if not self.describe_job(name).state.terminal:
                raise

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        with self._aws("ListTrainingJobs"):
            page = self._client("sagemaker").list_training_jobs(
                MaxResults=max(1, min(limit, 100)), SortBy="CreationTime", SortOrder="Descending")
        return [JobInfo(name=s["TrainingJobName"], provider=self.name,
                        state=rq.job_state(s["TrainingJobStatus"], None), created_at=rq._epoch(s.get("CreationTime")),
                        ended_at=rq._epoch(s.get("TrainingEndTime")), region=self.settings.region)
                for s in page.get("TrainingJobSummaries", [])][:limit]

    # -- serving --------------------------------------------------------------------------------------------
    def _describe(self, what: str, call: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            with self._aws(what):
                return getattr(self._client("sagemaker"), call)(**kwargs)
        except NotFoundError:
            return None

    def _prepare_model(self, spec: DeploySpec, name: str, work: Path) -> tuple[str, str | None]:
        """The model.tar.gz the inference image expects: the artifact plus ``code/`` (the source dir with
        ``inference.py``), and for TensorFlow a SavedModel under ``1/``. Returns (S3 URI, SAGEMAKER_PROGRAM).
        PyTorch (and other Python-handler images): ``code/`` also holds ``cloudml_runtime/`` and the shim
        ``cloudml_inference.py``, which is the ``SAGEMAKER_PROGRAM``, so the image's inference toolkit runs
        cloudml's serving defaults around the user's handlers (``cloudml/runtime/sagemaker_shim.py``)."""
        shim = spec.framework != "tensorflow"
        program = SHIM_PROGRAM if shim else (spec.source.entry_point if spec.source else None)
        src = work / "model.tar.gz"
        if uri_scheme(spec.model_uri) == "s3":
            self.download(spec.model_uri, str(src))
        else:
            src = Path(local_path(spec.model_uri))
        tree = work / "model"
        if src.is_dir():
            shutil.copytree(src, tree)
        else:
            packaging.safe_extract(src, tree)
        changed = False
        if spec.framework == "tensorflow" and (tree / "saved_model.pb").is_file():
            (work / "1").mkdir()
            for item in list(tree.iterdir()):
                shutil.move(str(item), work / "1" / item.name)
            shutil.move(str(work / "1"), tree / "1")
            changed = True
        if spec.source:
            code = packaging.build(spec.source.source_dir, work / "code-bundle", entry_point=spec.source.entry_point,
                                   ignore=spec.source.ignore, allow_secrets=spec.source.allow_secrets)
            shutil.rmtree(tree / "code", ignore_errors=True)
            packaging.safe_extract(code.path, tree / "code")
            changed = True
        if shim:
            add_serving_shim(tree / "code", user_code=spec.source is not None)
            changed = True
        if not changed and uri_scheme(spec.model_uri) == "s3":
            return spec.model_uri, program
        archive = packaging.tar_dir(tree, work / "repacked.tar.gz")
        uri = self.settings.s3_uri("models", packaging.file_sha256(archive)[:32], "model.tar.gz")
        self._upload_file(archive, uri)
        return uri, program

    @staticmethod
    def _serving_environment(spec: DeploySpec, program: str | None) -> dict[str, str]:
        env = dict(spec.environment)
        if program == SHIM_PROGRAM and spec.source:   # the user's handler file, loaded by the shim
            env["CLOUDML_SERVING_ENTRY"] = spec.source.entry_point
        return env

    def deploy(self, spec: DeploySpec) -> EndpointInfo:
        self.settings.require()
        name = spec.endpoint_name or make_job_name("cloudml-endpoint")
        instance_type = rq.check_instance_type(spec.instance_type or rq.DEFAULT_DEPLOY_INSTANCE, "instance_type")
        image = image_uri(spec.framework, spec.framework_version, self.settings.region, instance_type, "inference")
        rq.check_tags({**self.settings.tags, **spec.tags})
        tags = dict(spec.tags)
        for what, call, key in (("endpoint", "describe_endpoint", "EndpointName"),
                                ("endpoint config", "describe_endpoint_config", "EndpointConfigName"),
                                ("model", "describe_model", "ModelName")):
            if self._describe(f"{what} {name}", call, **{key: name}) is not None:
                raise ValidationError("endpoint_name", f"a SageMaker {what} named {name!r} already exists",
                                      "delete it (cloudml endpoints delete) or choose another name")
        created: list[tuple[str, str, str]] = []
        sm = self._client("sagemaker")
        try:
            with tempfile.TemporaryDirectory(prefix="cloudml-deploy-") as tmp:
                model_data, program = self._prepare_model(spec, name, Path(tmp))
            created_at = rq.epoch_now()
            if spec.ttl_seconds:
                tags["cloudml-expires"] = str(int(created_at) + spec.ttl_seconds)
            steps = (
                ("model", "create_model", "delete_model", "ModelName",
                 rq.model_request(name, self.settings, image=image, model_data_url=model_data, program=program,
                                  environment=self._serving_environment(spec, program), tags=tags,
                                  created=created_at)),
                ("endpoint config", "create_endpoint_config", "delete_endpoint_config", "EndpointConfigName",
                 rq.endpoint_config_request(name, self.settings, model_name=name, instance_type=instance_type,
                                            instance_count=spec.min_replicas, tags=tags, created=created_at)),
                ("endpoint", "create_endpoint", "delete_endpoint", "EndpointName",
                 rq.endpoint_request(name, self.settings, config_name=name, tags=tags, created=created_at)),
            )
            for what, create, delete, key, request in steps:
                try:
                    with self._aws(f"creating {what} {name}", instance_type):
                        getattr(sm, create)(**request)
                except CloudMLError as exc:
                    if not self._already_exists(exc):   # else: a retried create that had got through
                        raise
                created.append((what, delete, key))
            info = self._wait_in_service(name)
            if spec.max_replicas and spec.max_replicas > spec.min_replicas:
                scaling = self._client("application-autoscaling")
                with self._aws(f"autoscaling {name}"):
                    scaling.register_scalable_target(**rq.scalable_target_request(
                        name, self.settings, min_replicas=spec.min_replicas, max_replicas=spec.max_replicas,
                        tags=tags, created=created_at))
                    created.append(("scaling target", "deregister", ""))
                    scaling.put_scaling_policy(
                        **rq.scaling_policy_request(name, self.settings.scaling_target_invocations))
                info = dataclasses.replace(info, max_replicas=spec.max_replicas)
            return info
        except BaseException:
            self._rollback(name, created)
            raise

    def _rollback(self, name: str, created: list[tuple[str, str, str]]) -> None:
        for what, delete, key in reversed(created):
            try:
                with self._aws(f"deleting {what} {name}"):
                    if delete == "deregister":
                        self._client("application-autoscaling").deregister_scalable_target(
                            **rq.scalable_target_key(name))
                    else:
                        getattr(self._client("sagemaker"), delete)(**{key: name})
                log.info("deploy failed: deleted %s %s", what, name)
            except CloudMLError as exc:
                log.warning("deploy failed and %s %s could not be deleted: %s", what, name, exc)

    def _wait_in_service(self, name: str) -> EndpointInfo:
        deadline = time.monotonic() + self.settings.deploy_timeout
        delay = self.settings.poll_interval
        while True:
            desc = self._describe(f"endpoint {name}", "describe_endpoint", EndpointName=name) or {}
            state = rq.ENDPOINT_STATES.get(desc.get("EndpointStatus", ""), EndpointState.CREATING)
            if state is EndpointState.IN_SERVICE:
                return self.describe_endpoint(name)
            if state is EndpointState.FAILED:
                raise EndpointError(f"endpoint {name} failed to start: {desc.get('FailureReason') or 'no reason'}")
            if time.monotonic() + delay > deadline:
                raise WaitTimeoutError(f"endpoint {name} not in service after {self.settings.deploy_timeout:.0f}s "
                                       f"(state {state.value})")
            time.sleep(delay)
            delay = min(delay * 1.5, self.settings.max_poll_interval)

    def describe_endpoint(self, name: str) -> EndpointInfo:
        desc = self._describe(f"endpoint {name}", "describe_endpoint", EndpointName=name)
        if desc is None:
            raise NotFoundError(f"no SageMaker endpoint named {name!r} in {self.settings.region}")
        config = self._describe(f"endpoint config {desc['EndpointConfigName']}", "describe_endpoint_config",
                                EndpointConfigName=desc["EndpointConfigName"]) or {}
        variant = (config.get("ProductionVariants") or [{}])[0]
        model = (self._describe(f"model {variant['ModelName']}", "describe_model", ModelName=variant["ModelName"])
                 if variant.get("ModelName") else None) or {}
        current = (desc.get("ProductionVariants") or [{}])[0]
        min_replicas = int(current.get("DesiredInstanceCount") or variant.get("InitialInstanceCount") or 1)
        max_replicas = None
        with self._aws(f"autoscaling of {name}"):
            targets = self._client("application-autoscaling").describe_scalable_targets(
                ServiceNamespace="sagemaker", ResourceIds=[rq.scaling_resource_id(name)]).get("ScalableTargets", [])
        if targets:
            min_replicas, max_replicas = int(targets[0]["MinCapacity"]), int(targets[0]["MaxCapacity"])
        region = self.settings.region
        return EndpointInfo(
            name=name, provider=self.name, state=rq.ENDPOINT_STATES.get(desc["EndpointStatus"], EndpointState.FAILED),
            url=f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{name}/invocations",
            instance_type=variant.get("InstanceType"), min_replicas=min_replicas, max_replicas=max_replicas,
            model_uri=(model.get("PrimaryContainer") or {}).get("ModelDataUrl"),
            created_at=rq._epoch(desc.get("CreationTime")), reason=desc.get("FailureReason"),
            extra={"arn": desc.get("EndpointArn"), "endpoint_config": desc["EndpointConfigName"],
                   "model": variant.get("ModelName"), "image": (model.get("PrimaryContainer") or {}).get("Image")},
        )

    def invoke(self, name: str, body: bytes, content_type: str = "application/json",
               accept: str = "application/json") -> bytes:
        from botocore import exceptions as bx

        runtime = self._client("sagemaker-runtime")
        try:
            with self._aws(f"InvokeEndpoint {name}"):
                try:
                    response = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type,
                                                       Accept=accept)
                except bx.ClientError as exc:
                    err = exc.response.get("Error", {})
                    if err.get("Code") == "ModelError":
                        status = exc.response.get("OriginalStatusCode") or exc.response["ResponseMetadata"].get(
                            "HTTPStatusCode")
                        raise EndpointError(f"endpoint {name}: the model answered {status}: "
                                            f"{exc.response.get('OriginalMessage') or err.get('Message')}",
                                            int(status) if status else None) from exc
                    raise
                return bytes(response["Body"].read())
        except NotFoundError as exc:
            raise EndpointError(f"no SageMaker endpoint named {name!r}: {exc}", 404) from exc

    def delete_endpoint(self, name: str) -> None:
        endpoint = self._describe(f"endpoint {name}", "describe_endpoint", EndpointName=name)
        config_name = endpoint["EndpointConfigName"] if endpoint else name
        config = self._describe(f"endpoint config {config_name}", "describe_endpoint_config",
                                EndpointConfigName=config_name)
        models = [v["ModelName"] for v in config["ProductionVariants"]] if config else [name]
        scaling = self._client("application-autoscaling")
        with self._aws(f"autoscaling of {name}"):
            if scaling.describe_scalable_targets(ServiceNamespace="sagemaker",
                                                 ResourceIds=[rq.scaling_resource_id(name)]).get("ScalableTargets"):
                scaling.deregister_scalable_target(**rq.scalable_target_key(name))
        sm = self._client("sagemaker")
        with self._aws(f"deleting endpoint {name}"):
            if endpoint:
                sm.delete_endpoint(EndpointName=name)
            if config:
                sm.delete_endpoint_config(EndpointConfigName=config_name)
        for model in models:
            with contextlib.suppress(NotFoundError), self._aws(f"deleting model {model}"):
                sm.delete_model(ModelName=model)

    def list_endpoints(self) -> list[EndpointInfo]:
        with self._aws("ListEndpoints"):
            page = self._client("sagemaker").list_endpoints(SortBy="CreationTime", SortOrder="Descending",
                                                            MaxResults=100)
        return [EndpointInfo(name=e["EndpointName"], provider=self.name,
                             state=rq.ENDPOINT_STATES.get(e["EndpointStatus"], EndpointState.FAILED),
                             created_at=rq._epoch(e.get("CreationTime")))
                for e in page.get("Endpoints", [])]

    def list_cloudml_resources(self) -> list[Any]:
        from cloudml.providers import _sagemaker_cleanup

        return _sagemaker_cleanup.list_resources(self)

    def delete_resource(self, resource: Any) -> None:
        from cloudml.providers import _sagemaker_cleanup

        _sagemaker_cleanup.delete_resource(self, resource)


__all__ = ["SageMakerProvider"]
