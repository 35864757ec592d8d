"""Pure parts of the SageMaker provider: validation, request builders, response parsing, error translation.

Invariants:
- nothing here touches the network or creates a boto3 client; every builder takes a spec (and resolved facts such
  as the image URI and the code URI) and returns the exact request dict the provider sends, so snapshot tests and
  ``--dry-run`` show what reaches AWS;
- images come from ``_sagemaker_config.image_uri`` (offline, cached);
- every resource request carries the tags ``cloudml-job`` (the job or endpoint name) and ``cloudml-created``
  (epoch seconds, as on every provider), after the user's tags, so cleanup can find what cloudml made; an endpoint
  with a ``ttl_seconds`` also carries ``cloudml-expires`` (epoch seconds);
- hyperparameters travel as the official SageMaker SDK sends them: every value JSON-encoded (``"adam"`` becomes
  ``"\"adam\""``), which is what the DLC's training toolkit JSON-decodes and what the launcher decodes; keys
  starting with ``sagemaker_`` are the toolkit's and never reach the user's script. Jobs created before this
  encoding (strings sent raw) still decode: a value that is not JSON is kept as the string it is.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudml.errors import (
    CapacityError,
    CloudMLError,
    ConfigurationError,
    CredentialsError,
    NotFoundError,
    ValidationError,
)
from cloudml.providers._sagemaker_config import SageMakerSettings, image_uri
from cloudml.providers.base import EndpointState, JobInfo, JobState
from cloudml.runtime.launcher import SECRET_HP_PREFIX
from cloudml.runtime.secrets import is_secret_key

if TYPE_CHECKING:
    from cloudml.spec import TrainingSpec

PROVIDER = "sagemaker"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LAUNCHER = "cloudml_launcher.py"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
CODE_CHANNEL = "cloudml_code"          # only with network isolation: the bundle arrives as an input channel
VARIANT = "AllTraffic"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
DEFAULT_DEPLOY_INSTANCE = "ml.m5.xlarge"
RESERVED_HP_PREFIX = "sagemaker_"
# Limits from botocore's SageMaker service model (checked before any request).
MAX_HYPERPARAMETERS, MAX_HP_KEY, MAX_HP_VALUE = 100, 256, 2500
MAX_ENVIRONMENT, MAX_ENV_VALUE = 100, 512
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")


# -- validation -----------------------------------------------------------------------------------------------
def check_instance_type(instance_type: str | None, field_name: str = "resources.instance_type") -> str:
    if not instance_type:
        raise ValidationError(field_name, "no instance type was chosen", "pin one, e.g. 'ml.m5.xlarge', or let the "
                              "cost planner pick one from resources.accelerator")
    if not re.match(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$", instance_type):
        raise ValidationError(field_name, f"{instance_type!r} is not a SageMaker instance type",
                              "SageMaker types look like 'ml.m5.xlarge' or 'ml.p3.2xlarge'")
    return instance_type


def encode_hyperparameters(hps: Mapping[str, Any]) -> dict[str, str]:
    """Every value as JSON text, strings included, as the SageMaker SDK (v2 script mode) sends them: the training
    toolkit ``json.loads`` each value, so a raw ``"true"`` would reach the script as ``True``."""
    return {k: json.dumps(v) for k, v in hps.items()}


def decode_hyperparameters(hps: Mapping[str, str]) -> dict[str, Any]:
    """The user's values back from DescribeTrainingJob: JSON-decoded (this encoding and the SDK's); a value that is
    not JSON (a job from before it, or one made by hand) is the string itself."""
    out: dict[str, Any] = {}
    for key, value in hps.items():
        if key.startswith(RESERVED_HP_PREFIX):
            continue
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def hp_text(hps: Mapping[str, str], key: str) -> str | None:
    """One toolkit setting (``sagemaker_*``) as text, JSON-encoded or (older jobs) raw."""
    value = hps.get(key)
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def check_tags(tags: Mapping[str, str], field_name: str = "tags") -> None:
    if len(tags) > MAX_TAGS - 2:
        raise ValidationError(field_name, f"{len(tags)} tags; SageMaker allows {MAX_TAGS} and cloudml adds 2")
    for key, value in tags.items():
        if key.lower().startswith("aws:") or not key or len(key) > MAX_TAG_KEY or not _TAG_TEXT.match(key):
            raise ValidationError(f"{field_name}[{key!r}]", "not a valid SageMaker tag key",
                                  f"1-{MAX_TAG_KEY} letters, digits, spaces and _.:/=+-@, not starting with aws:")
        if len(value) > MAX_TAG_VALUE or not _TAG_TEXT.match(value):
            raise ValidationError(f"{field_name}[{key!r}]", "not a valid SageMaker tag value",
                                  f"up to {MAX_TAG_VALUE} letters, digits, spaces and _.:/=+-@")


def validate_training(spec: TrainingSpec, settings: SageMakerSettings) -> str:
    """Every check a CreateTrainingJob needs that can be made offline; returns the training image URI."""
    settings.require()
    instance_type = check_instance_type(spec.resources.instance_type)
    if spec.job_name is None:
        raise ValidationError("job_name", "no job name", "the Estimator names jobs with cloudml.spec.make_job_name")
    hps = encode_hyperparameters(spec.hyperparameters)
    if len(hps) > MAX_HYPERPARAMETERS - 4:
        raise ValidationError("hyperparameters", f"{len(hps)} entries; SageMaker allows {MAX_HYPERPARAMETERS} and "
                              "cloudml uses 4", "pass a JSON file as a channel instead")
    for key, value in hps.items():
        if key.startswith(RESERVED_HP_PREFIX):
            raise ValidationError(f"hyperparameters[{key!r}]", "names starting with 'sagemaker_' are reserved")
        if len(key) > MAX_HP_KEY or len(value) > MAX_HP_VALUE:
            raise ValidationError(f"hyperparameters[{key!r}]", f"longer than SageMaker allows (key {MAX_HP_KEY}, "
                                  f"value {MAX_HP_VALUE} characters)", "pass large values as a channel")
    env = launcher_environment(spec)
    if len(env) > MAX_ENVIRONMENT:
        raise ValidationError("environment", f"{len(env)} variables with cloudml's; SageMaker allows {MAX_ENVIRONMENT}")
    for key, value in env.items():
        if len(value) > MAX_ENV_VALUE:
            raise ValidationError(f"environment[{key!r}]", f"value longer than {MAX_ENV_VALUE} characters")
    if settings.network_isolation and CODE_CHANNEL in spec.channels:
        raise ValidationError(f"channels[{CODE_CHANNEL!r}]", "reserved for the code bundle under network isolation")
    check_tags({**settings.tags, **spec.tags})
    region = spec.resources.region or settings.region
    return image_uri(spec.framework, spec.framework_version, region, instance_type, "training")


# -- training requests ----------------------------------------------------------------------------------------
def epoch_now() -> str:
    """The ``cloudml-created`` tag value: whole epoch seconds (what every provider's labels can hold)."""
    return str(int(time.time()))


def resource_tags(name: str, *tag_maps: Mapping[str, str], created: str) -> list[dict[str, str]]:
    merged: dict[str, str] = {}
    for tags in tag_maps:
        merged.update(tags)
    merged.update({"cloudml-job": name, "cloudml-created": created})
    return [{"Key": k, "Value": v} for k, v in sorted(merged.items())]


def launcher_environment(spec: TrainingSpec) -> dict[str, str]:
    """The container environment: the user's variables, then the launcher's options (which win)."""
    env = dict(spec.environment)
    env.update({
        "CLOUDML_PROVIDER": PROVIDER,
        "CLOUDML_ENTRY_POINT": spec.source.entry_point,
        "CLOUDML_FRAMEWORK": spec.framework,
        "CLOUDML_FRAMEWORK_VERSION": str(spec.framework_version),
        "CLOUDML_DISTRIBUTION": spec.effective_distribution,
        "CLOUDML_PROCESSES_PER_NODE": str(spec.processes_per_node or "auto"),
    })
    env.update(secret_hyperparameters(spec.hyperparameters))
    return env


def secret_hyperparameters(hps: Mapping[str, Any]) -> dict[str, str]:
    """Secret-named hyperparameters as ``Environment`` entries (``CLOUDML_SECRET_HP_<n>``: JSON ``[key, value]``)
    rather than ``HyperParameters``: the DLC's training toolkit prints every hyperparameter to the job's logs,
    while the launcher reads these back into the script's hyperparameters (and masks them)."""
    out: dict[str, str] = {}
    for i, (key, value) in enumerate(sorted((k, v) for k, v in hps.items() if is_secret_key(k))):
        text = json.dumps([key, value])
        if len(text) > MAX_ENV_VALUE:
            raise ValidationError(f"hyperparameters[{key!r}]", f"a secret-named value travels in the job's "
                                  f"Environment, whose values SageMaker limits to {MAX_ENV_VALUE} characters",
                                  "pass a shorter value, or a reference to AWS Secrets Manager the script reads")
        out[f"{SECRET_HP_PREFIX}{i}"] = text
    return out


def secret_hyperparameters_from(env: Mapping[str, str]) -> dict[str, Any]:
    """The secret-named hyperparameters a job's ``Environment`` carries (see ``secret_hyperparameters``)."""
    out: dict[str, Any] = {}
    for name, text in sorted(env.items()):
        if name.startswith(SECRET_HP_PREFIX):
            try:
                key, value = json.loads(text)
            except (ValueError, TypeError):
                continue
            out[str(key)] = value
    return out


def checkpoint_uri(spec: TrainingSpec, settings: SageMakerSettings) -> str | None:
    """The user's checkpoint URI; spot jobs get one per job so an interrupted job resumes where it stopped."""
    if spec.checkpoint_uri:
        return str(spec.checkpoint_uri)
    if spec.resources.spot:
        return settings.s3_uri("checkpoints", str(spec.job_name))
    return None


def output_path(spec: TrainingSpec, settings: SageMakerSettings) -> str:
    return str(spec.output_uri).rstrip("/") if spec.output_uri else settings.s3_uri("output")


def training_job_request(spec: TrainingSpec, settings: SageMakerSettings, *, image: str, code_uri: str,
                         channels: Mapping[str, str], created: str) -> dict[str, Any]:
    """CreateTrainingJob for ``spec`` in the DLC's script mode: the toolkit downloads ``code_uri``
    (``sagemaker_submit_directory``) and runs ``cloudml_launcher.py`` (``sagemaker_program``) with the user's
    hyperparameters as ``--key value``; the launcher options travel in ``Environment``."""
    region = spec.resources.region or settings.region
    hps = encode_hyperparameters({k: v for k, v in spec.hyperparameters.items() if not is_secret_key(k)})
    inputs = [_channel(name, uri) for name, uri in sorted(channels.items())]
    submit_directory = code_uri
    if settings.network_isolation:   # the container cannot reach S3: ship the bundle as a channel
        inputs.append(_channel(CODE_CHANNEL, code_uri))
        submit_directory = f"/opt/ml/input/data/{CODE_CHANNEL}/{code_uri.rsplit('/', 1)[-1]}"
    hps.update(encode_hyperparameters({   # the toolkit's own settings, JSON like the SDK's
        "sagemaker_program": LAUNCHER,
        "sagemaker_submit_directory": submit_directory,
        "sagemaker_region": str(region),
        "sagemaker_container_log_level": 20,
    }))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": spec.max_run_seconds}
    resource: dict[str, Any] = {"InstanceType": spec.resources.instance_type, "InstanceCount": spec.instance_count,
                                "VolumeSizeInGB": spec.resources.volume_gb}
    output: dict[str, str] = {"S3OutputPath": output_path(spec, settings)}
    if settings.kms_key_id:
        output["KmsKeyId"] = settings.kms_key_id
        resource["VolumeKmsKeyId"] = settings.kms_key_id
    request: dict[str, Any] = {
        "TrainingJobName": str(spec.job_name),
        "RoleArn": settings.role_arn,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hps,
        "Environment": launcher_environment(spec),
        "OutputDataConfig": output,
        "ResourceConfig": resource,
        "StoppingCondition": stopping,
        "Tags": resource_tags(str(spec.job_name), settings.tags, spec.tags, created=created),
    }
    if inputs:
        request["InputDataConfig"] = inputs
    if spec.resources.spot:
        request["EnableManagedSpotTraining"] = True
        stopping["MaxWaitTimeInSeconds"] = spec.max_wait_seconds or 2 * spec.max_run_seconds
    checkpoints = checkpoint_uri(spec, settings)
    if checkpoints:
        request["CheckpointConfig"] = {"S3Uri": checkpoints, "LocalPath": CHECKPOINT_LOCAL_PATH}
    if settings.vpc_config:
        request["VpcConfig"] = settings.vpc_config
    if settings.network_isolation:
        request["EnableNetworkIsolation"] = True
    return request


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                        "S3DataDistributionType": "FullyReplicated"}},
        "InputMode": "File",
    }


# -- serving requests -----------------------------------------------------------------------------------------
def model_request(name: str, settings: SageMakerSettings, *, image: str, model_data_url: str, program: str | None,
                  environment: Mapping[str, str], tags: Mapping[str, str], created: str) -> dict[str, Any]:
    env = dict(environment)
    env.update({"SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": str(settings.region)})
    if program:
        env.update({"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    request: dict[str, Any] = {
        "ModelName": name,
        "ExecutionRoleArn": settings.role_arn,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data_url, "Environment": env},
        "Tags": resource_tags(name, settings.tags, tags, created=created),
    }
    if settings.vpc_config:
        request["VpcConfig"] = settings.vpc_config
    if settings.network_isolation:
        request["EnableNetworkIsolation"] = True
    return request


def endpoint_config_request(name: str, settings: SageMakerSettings, *, model_name: str, instance_type: str,
                            instance_count: int, tags: Mapping[str, str], created: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [{"VariantName": VARIANT, "ModelName": model_name, "InstanceType": instance_type,
                                "InitialInstanceCount": instance_count, "InitialVariantWeight": 1.0}],
        "Tags": resource_tags(name, settings.tags, tags, created=created),
    }
    if settings.kms_key_id:
        request["KmsKeyId"] = settings.kms_key_id
    return request


def endpoint_request(name: str, settings: SageMakerSettings, *, config_name: str, tags: Mapping[str, str],
                     created: str) -> dict[str, Any]:
    return {"EndpointName": name, "EndpointConfigName": config_name,
            "Tags": resource_tags(name, settings.tags, tags, created=created)}


def scaling_resource_id(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def scalable_target_key(endpoint: str) -> dict[str, str]:
    """What names the endpoint's scalable target (for Deregister/Describe)."""
    return {"ServiceNamespace": "sagemaker", "ResourceId": scaling_resource_id(endpoint),
            "ScalableDimension": SCALABLE_DIMENSION}


def scalable_target_request(endpoint: str, settings: SageMakerSettings, *, min_replicas: int, max_replicas: int,
                            tags: Mapping[str, str], created: str) -> dict[str, Any]:
    merged = {t["Key"]: t["Value"] for t in resource_tags(endpoint, settings.tags, tags, created=created)}
    return {**scalable_target_key(endpoint), "MinCapacity": min_replicas, "MaxCapacity": max_replicas,
            "Tags": merged}


def scaling_policy_request(endpoint: str, target_invocations: float) -> dict[str, Any]:
    return {
        "PolicyName": f"{endpoint}-invocations",
        **scalable_target_key(endpoint),
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": target_invocations,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    }


# -- responses ------------------------------------------------------------------------------------------------
JOB_STATES = {"Completed": JobState.COMPLETED, "Failed": JobState.FAILED, "Stopping": JobState.STOPPING,
              "Stopped": JobState.STOPPED, "Deleting": JobState.STOPPING}
PENDING_SECONDARY = {"Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack", "Downloading",
                     "DownloadingTrainingImage", "Restarting", "Interrupted"}
ENDPOINT_STATES = {"Creating": EndpointState.CREATING, "InService": EndpointState.IN_SERVICE,
                   "Updating": EndpointState.UPDATING, "SystemUpdating": EndpointState.UPDATING,
                   "RollingBack": EndpointState.UPDATING, "Deleting": EndpointState.DELETING,
                   "Failed": EndpointState.FAILED, "OutOfService": EndpointState.FAILED,
                   "UpdateRollbackFailed": EndpointState.FAILED}
_EXIT_CODE = re.compile(r"exit(?:ed with)? code[: ]+(-?\d+)", re.IGNORECASE)


def job_state(status: str, secondary: str | None) -> JobState:
    if status == "InProgress":
        return JobState.PENDING if secondary in PENDING_SECONDARY else JobState.RUNNING
    return JOB_STATES.get(status, JobState.RUNNING)


def _epoch(value: Any) -> float | None:
    return value.timestamp() if hasattr(value, "timestamp") else None


def job_info(desc: Mapping[str, Any], region: str | None) -> JobInfo:
    """A ``JobInfo`` from DescribeTrainingJob: what attach needs comes from HyperParameters and Environment."""
    status, secondary = desc.get("TrainingJobStatus", "InProgress"), desc.get("SecondaryStatus")
    state = job_state(status, secondary)
    hps = desc.get("HyperParameters") or {}
    env = desc.get("Environment") or {}
    resource = desc.get("ResourceConfig") or {}
    reason = desc.get("FailureReason")
    if state is JobState.STOPPED and not reason:
        reason = "stopped (MaxRuntimeExceeded)" if secondary == "MaxRuntimeExceeded" else "stopped"
    exit_match = _EXIT_CODE.search(reason or "") if state is JobState.FAILED else None
    code_uri = hp_text(hps, "sagemaker_submit_directory")
    if code_uri and not code_uri.startswith("s3://"):   # network isolation: the channel holds the bundle
        for channel in desc.get("InputDataConfig") or []:
            if channel.get("ChannelName") == CODE_CHANNEL:
                code_uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
    artifacts = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    name = desc["TrainingJobName"]
    extra = {
        "arn": desc.get("TrainingJobArn"),
        "secondary_status": secondary,
        "image": (desc.get("AlgorithmSpecification") or {}).get("TrainingImage"),
        "role_arn": desc.get("RoleArn"),
        "billable_seconds": desc.get("BillableTimeInSeconds"),
        "training_seconds": desc.get("TrainingTimeInSeconds"),
        "checkpoint_uri": (desc.get("CheckpointConfig") or {}).get("S3Uri"),
        "log_group": LOG_GROUP,
        "environment": dict(desc.get("Environment") or {}),   # so log lines can mask secret values
        # SageMaker fails a job it could not get instances for with "CapacityError: Unable to provision ..."
        "capacity": True if state is JobState.FAILED and re.match(r"(CapacityError|InsufficientCapacity)",
                                                                  reason or "") else None,
    }
    if region:
        extra["console_url"] = (f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
                                f"#/jobs/{name}")
    return JobInfo(
        name=name, provider=PROVIDER, state=state, reason=reason,
        exit_code=int(exit_match.group(1)) if exit_match else None,
        model_uri=artifacts if state is JobState.COMPLETED else None,
        code_uri=code_uri, output_uri=(desc.get("OutputDataConfig") or {}).get("S3OutputPath"),
        created_at=_epoch(desc.get("CreationTime")), started_at=_epoch(desc.get("TrainingStartTime")),
        ended_at=_epoch(desc.get("TrainingEndTime")),
        billable_seconds=(float(desc["BillableTimeInSeconds"]) if desc.get("BillableTimeInSeconds") is not None
                          else None),
        instance_type=resource.get("InstanceType"), instance_count=int(resource.get("InstanceCount") or 1),
        region=region, spot=bool(desc.get("EnableManagedSpotTraining")),
        framework=env.get("CLOUDML_FRAMEWORK"), framework_version=env.get("CLOUDML_FRAMEWORK_VERSION"),
        entry_point=env.get("CLOUDML_ENTRY_POINT"),
        hyperparameters={**decode_hyperparameters(hps), **secret_hyperparameters_from(env)},
        extra={k: v for k, v in extra.items() if v is not None},
    )


# -- errors ---------------------------------------------------------------------------------------------------
CREDENTIAL_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
                    "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                    "AccessDenied", "AccessDeniedException", "MissingAuthenticationToken"}
NOT_FOUND_CODES = {"ResourceNotFound", "ResourceNotFoundException", "NoSuchKey", "404", "NotFound",
                   "ObjectNotFoundException"}
EXISTS_CODES = {"ResourceInUse", "ResourceInUseException"}


def translate_error(code: str, message: str, what: str, *, instance_type: str | None, bucket: str | None
                    ) -> CloudMLError:
    """The cloudml error for an AWS error ``code``/``message`` met while doing ``what``."""
    if code in CREDENTIAL_CODES:
        hint = "they have expired: refresh them" if "xpired" in code + message else "check them"
        return CredentialsError(f"AWS refused the credentials for {what} ({code}: {message}); {hint} "
                                "(aws sso login, a new session token, or AWS_PROFILE)")
    if code == "ResourceLimitExceeded":
        return CapacityError(PROVIDER, instance_type or "this instance type", message or code)
    if code == "NoSuchBucket":
        return ConfigurationError(f"S3 bucket {bucket!r} does not exist: create it or set provider_options "
                                  "bucket / CLOUDML_SAGEMAKER_BUCKET")
    lowered = message.lower()
    if code in NOT_FOUND_CODES or (code in ("ValidationException", "ValidationError") and (
            "could not find" in lowered or "not found" in lowered or "does not exist" in lowered)):
        return NotFoundError(f"{what}: {message or code}")
    return CloudMLError(f"SageMaker {what} failed: {code}: {message}")


def already_exists(code: str, message: str) -> bool:
    """A create refused because the name is taken (by our own earlier attempt when botocore retried)."""
    text = message.lower()
    return code in EXISTS_CODES or "already exist" in text or "must be unique" in text
