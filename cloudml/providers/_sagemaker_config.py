"""SageMaker provider settings and the offline choice of AWS Deep Learning Container images.

Invariants: building ``SageMakerSettings`` reads only its arguments and ``os.environ`` (no file, no network);
``require`` names every missing setting and where to set it. ``image_uri`` imports ``sagemaker.core.image_uris``
(offline, from JSON bundled with sagemaker-core, ~3 s) on first use only and caches each answer.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from cloudml import frameworks
from cloudml.errors import ConfigurationError, MissingDependencyError, ValidationError, how_to_set

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


# -- settings -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SageMakerSettings:
    """The provider's options. Each one comes from the constructor argument, else ``CLOUDML_SAGEMAKER_<NAME>``,
    else the listed AWS variable, else the default. Building it does no I/O beyond reading ``os.environ``."""

    region: str | None = None                  # also AWS_REGION / AWS_DEFAULT_REGION
    role_arn: str | None = None                # execution role SageMaker assumes
    bucket: str | None = None                  # code, data, output and model artifacts
    prefix: str = "cloudml"
    kms_key_id: str | None = None              # SSE-KMS for uploads, output, volumes, endpoint storage
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    network_isolation: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    endpoint_url: str | Mapping[str, str] | None = None   # one URL for every client, or service -> URL
    profile: str | None = None                 # also AWS_PROFILE (read by boto3)
    retry_mode: str = "standard"               # botocore retries: "standard" | "adaptive" | "legacy"
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 70.0
    poll_interval: float = 5.0                 # first wait between Describe* calls (jobs and deploy)
    max_poll_interval: float = 30.0
    deploy_timeout: float = 3600.0
    scaling_target_invocations: float = 70.0   # target-tracking: invocations per instance per minute

    @classmethod
    def from_options(cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> SageMakerSettings:
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValidationError("provider_options", f"unknown SageMaker option(s): {', '.join(unknown)}",
                                  "known: " + ", ".join(known))
        values: dict[str, Any] = {}
        for name in known:
            value = options.get(name)
            if value is None:
                value = env.get("CLOUDML_SAGEMAKER_" + name.upper()) or None
            if value is None and name == "region":
                value = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
            if value is not None:
                values[name] = value
        try:
            for name in ("subnets", "security_group_ids"):
                if isinstance(values.get(name), str):
                    values[name] = tuple(s.strip() for s in values[name].split(",") if s.strip())
                elif name in values:
                    values[name] = tuple(values[name])
            if isinstance(values.get("tags"), str):
                values["tags"] = dict(kv.split("=", 1) for kv in values["tags"].split(",") if kv.strip())
            if isinstance(values.get("endpoint_url"), str) and values["endpoint_url"].lstrip().startswith("{"):
                values["endpoint_url"] = json.loads(values["endpoint_url"])
            if isinstance(values.get("network_isolation"), str):
                values["network_isolation"] = values["network_isolation"].strip().lower() in ("1", "true", "yes")
            for name in ("max_attempts",):
                if name in values:
                    values[name] = int(values[name])
            for name in ("connect_timeout", "read_timeout", "poll_interval", "max_poll_interval", "deploy_timeout",
                         "scaling_target_invocations"):
                if name in values:
                    values[name] = float(values[name])
        except (TypeError, ValueError) as exc:
            raise ValidationError("provider_options", f"cannot read a SageMaker option: {exc}") from None
        settings = cls(**values)
        settings.check_types()
        return settings

    def check_types(self) -> None:
        if self.retry_mode not in ("standard", "adaptive", "legacy"):
            raise ValidationError("retry_mode", f"{self.retry_mode!r} is not a botocore retry mode",
                                  "use 'standard' or 'adaptive'")
        if self.max_attempts < 1:
            raise ValidationError("max_attempts", f"must be at least 1, got {self.max_attempts}")
        if self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ValidationError("prefix", f"{self.prefix!r} must not start or end with '/'", "e.g. 'cloudml'")
        if not isinstance(self.tags, Mapping):
            raise ValidationError("tags", "must be a mapping of strings")

    def require(self) -> None:
        """Raise ``ConfigurationError`` naming every missing or malformed setting that a request needs."""
        missing = []
        if not self.region:
            missing.append(f"region (set it with {how_to_set('sagemaker', 'region', 'us-east-1')}; or AWS_REGION)")
        if not self.role_arn:
            missing.append("role_arn, the SageMaker execution role (set it with "
                           f"{how_to_set('sagemaker', 'role_arn', 'arn:aws:iam::<account>:role/<name>')}; "
                           "or CLOUDML_SAGEMAKER_ROLE_ARN)")
        if not self.bucket:
            missing.append(f"bucket for code and artifacts (set it with {how_to_set('sagemaker', 'bucket', '<name>')}; "
                           "or CLOUDML_SAGEMAKER_BUCKET)")
        if missing:
            raise ConfigurationError("SageMaker needs: " + "; ".join(missing))
        if not _ROLE_ARN.match(self.role_arn or ""):
            raise ConfigurationError(f"role_arn {self.role_arn!r} is not an IAM role ARN "
                                     "(arn:aws:iam::<12-digit account>:role/<name>)")
        if not _BUCKET.match(self.bucket or ""):
            raise ConfigurationError(f"bucket {self.bucket!r} is not an S3 bucket name (give the name, not s3://...)")

    def s3_uri(self, *parts: str) -> str:
        return "s3://" + "/".join(p.strip("/") for p in (str(self.bucket), self.prefix, *parts) if p.strip("/"))

    @property
    def vpc_config(self) -> dict[str, list[str]] | None:
        if not self.subnets and not self.security_group_ids:
            return None
        return {"SecurityGroupIds": list(self.security_group_ids), "Subnets": list(self.subnets)}


# -- images ---------------------------------------------------------------------------------------------------
def supported_versions(framework: str, scope: str) -> list[str]:
    """Versions (major.minor) SageMaker has ``scope`` images for that cloudml also knows, oldest first."""
    image_uris = _image_uris()
    aliases = image_uris.config_for_framework(framework)[scope].get("version_aliases", {})
    return [v for v in frameworks.FRAMEWORKS[framework] if v in aliases]


def _image_uris() -> Any:
    try:
        from sagemaker.core import image_uris
    except ImportError:
        raise MissingDependencyError("sagemaker", "sagemaker-core") from None
    return image_uris


@functools.lru_cache(maxsize=256)
def image_uri(framework: str, version: str, region: str, instance_type: str, scope: str) -> str:
    """The AWS Deep Learning Container for ``scope`` ("training" | "inference"). Offline; ``ValidationError``
    listing the supported versions when there is no image."""
    supported = supported_versions(framework, scope)
    if version not in supported:
        raise ValidationError("framework_version",
                              f"SageMaker has no {framework} {version} {scope} image",
                              "supported: " + ", ".join(supported))
    try:
        return str(_image_uris().retrieve(framework, region, version, instance_type=instance_type,
                                          image_scope=scope))
    except ValueError as exc:
        raise ValidationError("instance_type", f"no SageMaker {framework} {version} {scope} image for "
                              f"{instance_type} in {region}: {exc}") from None
