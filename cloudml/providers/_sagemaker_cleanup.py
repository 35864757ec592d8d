"""SageMaker's half of ``cloudml cleanup``: endpoints, endpoint configs and models tagged ``cloudml-created``.

Invariants: only resources carrying the ``cloudml-created`` tag are ever listed (a user's own endpoints are never
touched); a config or model is listed only when no existing endpoint uses it (an orphan: deleting an endpoint
deletes its config and models with it, see ``SageMakerProvider.delete_endpoint``); deletes are idempotent.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from cloudml.errors import NotFoundError
from cloudml.providers.base import CloudResource, _when

if TYPE_CHECKING:
    from cloudml.providers.sagemaker import SageMakerProvider


def _pages(sm: Any, op: str, key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"MaxResults": 100}
    while True:
        page = getattr(sm, op)(**kwargs)
        out += page.get(key, [])
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def _tags(sm: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn).get("Tags", [])}


def list_resources(provider: SageMakerProvider) -> list[CloudResource]:
    sm = provider._client("sagemaker")
    found: list[CloudResource] = []
    used_configs: set[str] = set()
    used_models: set[str] = set()
    with provider._aws("listing cloudml resources"):
        for e in _pages(sm, "list_endpoints", "Endpoints"):
            with contextlib.suppress(sm.exceptions.ClientError):
                used_configs.add(sm.describe_endpoint(EndpointName=e["EndpointName"])["EndpointConfigName"])
            tags = _tags(sm, e["EndpointArn"])
            if "cloudml-created" in tags:
                found.append(CloudResource(provider.name, "endpoint", e["EndpointName"],
                                           _when(tags["cloudml-created"]), _when(tags.get("cloudml-expires"))))
        configs = _pages(sm, "list_endpoint_configs", "EndpointConfigs")
        for c in configs:
            name = c["EndpointConfigName"]
            if name in used_configs:
                variants = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
                used_models.update(v["ModelName"] for v in variants)
        for c in configs:
            name = c["EndpointConfigName"]
            if name in used_configs:
                continue
            tags = _tags(sm, c["EndpointConfigArn"])
            if "cloudml-created" in tags:
                found.append(CloudResource(provider.name, "endpoint-config", name, _when(tags["cloudml-created"]),
                                           _when(tags.get("cloudml-expires"))))
        for m in _pages(sm, "list_models", "Models"):
            if m["ModelName"] in used_models:
                continue
            tags = _tags(sm, m["ModelArn"])
            if "cloudml-created" in tags:
                found.append(CloudResource(provider.name, "model", m["ModelName"], _when(tags["cloudml-created"]),
                                           _when(tags.get("cloudml-expires"))))
    return found


def delete_resource(provider: SageMakerProvider, resource: CloudResource) -> None:
    if resource.kind == "endpoint":
        provider.delete_endpoint(resource.name)
        return
    sm = provider._client("sagemaker")
    with contextlib.suppress(NotFoundError), provider._aws(f"deleting {resource.kind} {resource.name}"):
        if resource.kind == "endpoint-config":
            sm.delete_endpoint_config(EndpointConfigName=resource.name)
        elif resource.kind == "model":
            sm.delete_model(ModelName=resource.name)
        else:
            raise NotImplementedError(f"sagemaker cannot delete a {resource.kind}")
