"""Azure ML serving: register the model, create a managed online endpoint + deployment, route traffic, score, delete.

Invariants:
- ``deploy`` checks everything it can before the first request (endpoint name, instance type, replicas, model URI,
  GPU environment on a CPU size), then creates in order model -> endpoint -> deployment -> 100% traffic, and on any
  failure deletes what this call created (endpoint with its deployments, the model version it registered) before
  raising; a provisioning failure is raised as ``EndpointError`` carrying the deployment's log tail, a quota
  refusal as ``CapacityError`` naming the instance type;
- ``invoke`` POSTs to the endpoint's scoring URI with the endpoint key (read once per endpoint, never logged)
  through azure-core's pipeline (its ``RetryPolicy`` retries transient faults);
- ``delete_endpoint`` is idempotent and removes the model only when cloudml registered it (its tags say so).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from cloudml.errors import CapacityError, EndpointError, NotFoundError, ValidationError
from cloudml.providers import _azureml_envs as envs
from cloudml.providers import _azureml_requests as requests
from cloudml.providers._azureml_serving import build_code_dir
from cloudml.providers.base import EndpointInfo, EndpointState
from cloudml.spec import local_path, uri_scheme

if TYPE_CHECKING:
    from cloudml.providers.azureml import AzureMLProvider
    from cloudml.spec import DeploySpec

log = logging.getLogger("cloudml.providers.azureml")
MODEL_API_VERSION = "2024-04-01"


def endpoint_name_for(provider: AzureMLProvider, spec: DeploySpec) -> str:
    import secrets

    name = spec.endpoint_name or f"cloudml-{secrets.token_hex(4)}"
    if len(name) > 32:  # Azure's limit is 32 (a name is unique per region): keep the start, add a stable hash
        import hashlib

        short = f"{name[:23].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        log.info("endpoint name %s is longer than Azure's 32 characters: using %s", name, short)
        name = short
    if not provider.endpoint_name_pattern.match(name):
        raise ValidationError("endpoint_name", f"{name!r} is not a valid Azure ML endpoint name",
                              "3-32 letters, digits and hyphens, starting with a letter and not ending with a hyphen")
    return name


def check_deploy(provider: AzureMLProvider, spec: DeploySpec) -> tuple[str, str, envs.EnvChoice]:
    """(endpoint name, instance type, environment) — every check that needs no request."""
    provider._require_config()
    provider.check_features(spec)
    name = endpoint_name_for(provider, spec)
    itype = spec.instance_type or provider.options.get("default_instance_type") or provider.default_serving_size
    provider._check_size(itype, "instance_type")
    if spec.accelerator and not envs.gpu_count(itype):
        raise ValidationError("instance_type", f"{itype} has no GPU but accelerator={spec.accelerator!r} asks for one",
                              "GPU sizes: " + ", ".join(envs.known_sizes(gpu=True)[:6]))
    if provider.options.get("inference_environment") is not None:
        env = envs.user_environment(provider.options["inference_environment"], "provider_options.inference_environment")
    else:
        env = envs.inference_environment(spec.framework, str(spec.framework_version), envs.gpu_count(itype) > 0)
    provider._check_env_on_size(env, itype, "provider_options.inference_environment")
    scheme = uri_scheme(spec.model_uri)
    if scheme not in (None, "azureml", "https"):
        raise ValidationError("model_uri", f"{scheme}:// is not Azure storage",
                              "use an azureml://datastores/... folder, an Azure blob URL or a local folder")
    if scheme is None:
        from pathlib import Path

        if not Path(local_path(spec.model_uri)).exists():
            raise ValidationError("model_uri", f"local path {spec.model_uri!r} does not exist")
    if spec.auth_token is not None:
        raise ValidationError("auth_token", "Azure ML endpoints use their own keys",
                              "leave auth_token unset; cloudml reads the endpoint key for each call")
    return name, itype, env


def deploy(provider: AzureMLProvider, spec: DeploySpec) -> EndpointInfo:
    name, itype, env = check_deploy(provider, spec)
    ml = provider._client()
    from azure.ai.ml.entities import (
        CodeConfiguration,
        Environment,
        ManagedOnlineDeployment,
        ManagedOnlineEndpoint,
        Model,
    )
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    from cloudml.providers.azureml import _now_iso

    created_at = _now_iso()
    model_uri = spec.model_uri
    if uri_scheme(model_uri) is None:
        model_uri = provider._store().upload_local(local_path(model_uri), provider.options["datastore"])
    code = build_code_dir(spec.source.source_dir if spec.source else None, spec.source.entry_point if spec.source else None)
    created: list[tuple[str, str]] = []
    try:
        try:
            ml.online_endpoints.get(name)
            raise ValidationError("endpoint_name", f"an endpoint named {name!r} already exists",
                                  "choose another name or delete it first")
        except ResourceNotFoundError:
            pass
        mreq = requests.model_request(spec, name, model_uri, created_at)
        try:
            model = ml.models.get(mreq["name"], version=mreq["version"])
        except ResourceNotFoundError:
            model = ml.models.create_or_update(Model(**mreq))
            created.append(("model", mreq["name"]))
        expires = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + spec.ttl_seconds))
                   if spec.ttl_seconds else None)
        ereq = requests.endpoint_request(spec, name, provider.options.get("tags") or {}, created_at,
                                         provider.options.get("public_network_access"), expires)
        created.append(("endpoint", name))
        endpoint = ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(**ereq)).result()
        dreq = requests.deployment_request(
            spec, name, model_id=model.id, code=str(code), environment=env, instance_type=itype,
            tags=provider.options.get("tags") or {}, created_at=created_at,
            egress_public_network_access=provider.options.get("egress_public_network_access"))
        denv = dreq["environment"]
        environment = denv["id"] if "id" in denv else Environment(image=denv["image"], conda_file=denv["conda"])
        deployment = ManagedOnlineDeployment(
            **{**dreq, "environment": environment,
               "code_configuration": CodeConfiguration(**dreq["code_configuration"])})
        try:
            ml.online_deployments.begin_create_or_update(deployment).result()
        except HttpResponseError as exc:
            raise _deployment_failure(provider, name, itype, exc) from None
        state = ml.online_deployments.get(requests.DEPLOYMENT_NAME, endpoint_name=name).provisioning_state
        if _text(state).lower() != "succeeded":
            raise _deployment_failure(provider, name, itype, None)
        endpoint.traffic = {requests.DEPLOYMENT_NAME: 100}
        endpoint = ml.online_endpoints.begin_create_or_update(endpoint).result()
    except BaseException:
        _rollback(provider, created)
        raise
    log.info("Azure ML endpoint %s serves %s on %d x %s", name, model_uri, spec.min_replicas, itype)
    return _endpoint_info(provider, endpoint, itype, spec.min_replicas, model_uri)


def _text(value: Any) -> str:
    """An SDK enum or string as its plain value (``ProvisioningState.SUCCEEDED`` -> ``"Succeeded"``)."""
    return str(getattr(value, "value", value) or "")


def _deployment_failure(provider: AzureMLProvider, endpoint: str, itype: str, exc: Exception | None) -> Exception:
    if exc is not None:
        translated = provider._translate(exc, itype)
        if isinstance(translated, CapacityError):
            return translated
    try:
        logs = provider._client().online_deployments.get_logs(requests.DEPLOYMENT_NAME, endpoint, lines=30)
    except Exception:  # the logs only explain the failure: never let reading them hide it
        logs = ""
    detail = f": {exc}" if exc is not None else ""
    tail = "\n".join(str(logs).splitlines()[-30:])
    return EndpointError(f"Azure ML deployment {endpoint}/{requests.DEPLOYMENT_NAME} failed{detail}"
                         + (f"\ndeployment log:\n{tail}" if tail else ""))


def _rollback(provider: AzureMLProvider, created: list[tuple[str, str]]) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    for kind, name in reversed(created):
        try:
            if kind == "endpoint":
                provider._client().online_endpoints.begin_delete(name=name).result()
            else:
                _delete_model(provider, name, "1")
        except ResourceNotFoundError:
            pass  # it was never made (the create itself failed)
        except Exception as exc:  # keep rolling back the rest; report what is left behind
            log.warning("rollback: could not delete %s %s (%s); delete it by hand", kind, name, exc)


def _delete_model(provider: AzureMLProvider, name: str, version: str) -> None:
    """DELETE the model version (azure-ai-ml only archives models; the REST API deletes them)."""
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.rest import HttpRequest

    token = BearerTokenCredentialPolicy(provider._credential(), _scope(provider))
    for rel in (f"/models/{name}/versions/{version}", f"/models/{name}"):
        req = HttpRequest("DELETE", provider._arm_url(rel) + f"?api-version={MODEL_API_VERSION}")
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import RetryPolicy

        kwargs = {"transport": provider.options["transport"]} if provider.options.get("transport") is not None else {}
        client = PipelineClient("https://localhost", policies=[RetryPolicy(), token], **kwargs)
        resp = client.send_request(req)
        if resp.status_code >= 400 and resp.status_code != 404:
            raise EndpointError(f"deleting model {name}:{version} failed with HTTP {resp.status_code}", resp.status_code)


def _scope(provider: AzureMLProvider) -> str:
    base = str(provider.options.get("arm_endpoint") or "https://management.azure.com").rstrip("/")
    return base + "/.default"


def _endpoint_info(provider: AzureMLProvider, endpoint: Any, itype: str | None = None, replicas: int | None = None,
                   model_uri: str | None = None) -> EndpointInfo:
    state = provider.endpoint_states.get(_text(endpoint.provisioning_state).lower(), EndpointState.CREATING)
    traffic = dict(endpoint.traffic or {})
    if state == EndpointState.IN_SERVICE and not any(int(v) > 0 for v in traffic.values()):
        state = EndpointState.CREATING
    tags = dict(endpoint.tags or {})
    created = tags.get("cloudml-created")
    return EndpointInfo(
        name=endpoint.name, provider=provider.name, state=state, url=endpoint.scoring_uri, instance_type=itype,
        min_replicas=replicas or 1, max_replicas=replicas or 1, model_uri=model_uri,
        created_at=_parse_time(created) if created else None,
        extra={"traffic": traffic, "tags": tags, "auth_mode": endpoint.auth_mode})


def _parse_time(text: str) -> float | None:
    import calendar
    import time

    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def describe_endpoint(provider: AzureMLProvider, name: str) -> EndpointInfo:
    from azure.core.exceptions import ResourceNotFoundError

    ml = provider._client()
    try:
        endpoint = ml.online_endpoints.get(name)
    except ResourceNotFoundError:
        raise NotFoundError(f"no Azure ML endpoint named {name!r}") from None
    itype = replicas = model_uri = None
    try:
        dep = ml.online_deployments.get(requests.DEPLOYMENT_NAME, endpoint_name=name)
        itype, replicas = dep.instance_type, dep.instance_count
        if _text(dep.provisioning_state).lower() == "failed":
            return EndpointInfo(name=name, provider=provider.name, state=EndpointState.FAILED, url=endpoint.scoring_uri,
                                instance_type=itype, reason="deployment failed")
        model_uri = _model_uri(provider, dep.model)
    except ResourceNotFoundError:
        pass
    return _endpoint_info(provider, endpoint, itype, replicas, model_uri)


def _model_uri(provider: AzureMLProvider, model_id: Any) -> str | None:
    import re

    m = re.search(r"/models/([^/]+)/versions/([^/]+)$", str(model_id or ""))
    if not m:
        return None
    try:
        return provider._client().models.get(m.group(1), version=m.group(2)).path
    except Exception:
        return None


def invoke(provider: AzureMLProvider, name: str, body: bytes, content_type: str, accept: str) -> bytes:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.core.rest import HttpRequest

    if name not in provider._keys:
        ml = provider._client()
        try:
            endpoint = ml.online_endpoints.get(name)
            key = ml.online_endpoints.get_keys(name).primary_key
        except ResourceNotFoundError:
            raise NotFoundError(f"no Azure ML endpoint named {name!r}") from None
        provider._keys[name] = (endpoint.scoring_uri, key)
    url, key = provider._keys[name]
    req = HttpRequest("POST", url, content=body, headers={
        "Content-Type": content_type, "Accept": accept, "Authorization": f"Bearer {key}"})
    with provider._scoring_slots:   # a bounded number in flight per process (see SCORING_CONCURRENCY)
        resp = provider._http().send_request(req)
        data = resp.read()
    if resp.status_code >= 400:
        if resp.status_code in (401, 403):
            provider._keys.pop(name, None)
        raise EndpointError(f"Azure ML endpoint {name} answered HTTP {resp.status_code}: "
                            f"{data[:500].decode('utf-8', 'replace')}", resp.status_code)
    return bytes(data)


def delete_endpoint(provider: AzureMLProvider, name: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    ml = provider._client()
    provider._keys.pop(name, None)
    try:
        ml.online_endpoints.begin_delete(name=name).result()
    except ResourceNotFoundError:
        pass
    model_name = f"cloudml-{name}"
    try:
        model = ml.models.get(model_name, version="1")
    except ResourceNotFoundError:
        return
    if (model.tags or {}).get("cloudml-endpoint") == name:
        _delete_model(provider, model_name, "1")


def list_endpoints(provider: AzureMLProvider) -> list[EndpointInfo]:
    return [_endpoint_info(provider, e) for e in provider._client().online_endpoints.list()
            if "cloudml-endpoint" in (e.tags or {})]
