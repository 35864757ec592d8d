"""The thin azure-ai-ml edge of the Azure ML provider: request dict -> SDK entity, SDK errors -> cloudml errors.

Invariant: no decisions here; ``_azureml_requests`` decides what to send, these functions only translate it.
Importing this module imports no SDK (each function imports what it needs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudml.errors import CredentialsError


def credentials_guard(method: Any) -> Any:
    """Refused or unavailable Azure credentials -> ``CredentialsError`` saying how to fix it (never the secret)."""
    import functools

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            kind = type(exc).__name__
            if kind in ("ClientAuthenticationError", "CredentialUnavailableError"):
                first = (str(exc).splitlines() or [kind])[0][:300]
                raise CredentialsError(
                    f"Azure did not accept the credentials ({kind}: {first}). Sign in with 'az login', set "
                    "AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or pass provider_options['credential']"
                ) from None
            raise

    return wrapper


def to_command(req: Mapping[str, Any]) -> Any:
    """``requests.job_request``'s dict -> azure-ai-ml's ``command()`` (one thin translation, no decisions)."""
    from azure.ai.ml import Input, Output, PyTorchDistribution, TensorFlowDistribution, command
    from azure.ai.ml.entities import Environment

    env = req["environment"]
    environment = env["id"] if "id" in env else Environment(image=env["image"], conda_file=env["conda"])
    dist = req["distribution"]
    distribution: Any = None
    if dist and dist["type"] == "pytorch":
        distribution = PyTorchDistribution(process_count_per_instance=dist["process_count_per_instance"])
    elif dist and dist["type"] == "tensorflow":
        distribution = TensorFlowDistribution(worker_count=dist["worker_count"])
    kwargs: dict[str, Any] = {
        "name": req["name"], "display_name": req["display_name"], "experiment_name": req["experiment_name"],
        "command": req["command"], "code": req["code"], "environment": environment, "compute": req["compute"],
        "instance_count": req["instance_count"], "distribution": distribution,
        "inputs": {k: Input(type=v["type"], path=v["path"], mode=v["mode"]) for k, v in req["inputs"].items()},
        "outputs": {k: Output(type=v["type"], path=v["path"], mode=v["mode"]) for k, v in req["outputs"].items()},
        "environment_variables": req["environment_variables"], "timeout": req["timeout"],
        "tags": req["tags"], "properties": req["properties"],
    }
    if req["instance_type"]:
        kwargs["instance_type"] = req["instance_type"]
    if req["job_tier"]:
        kwargs["job_tier"] = req["job_tier"]
    return command(**kwargs)
