"""Pure request builders for Azure ML: spec in, plain dict out (no SDK import, no network).

``job_request`` describes one command job exactly as ``AzureMLProvider.submit`` hands it to azure-ai-ml's
``command()``; ``endpoint_request`` / ``deployment_request`` describe a managed online endpoint and its deployment.
Snapshot tests pin these dicts, and ``AzureMLProvider.dry_run`` shows them.

Invariants:
- the job's command always runs ``python cloudml_launcher.py`` from the code folder with ``--cloudml-provider
  azureml``, the entry point, framework, distribution and processes per node, ``--cloudml-model-dir
  ${{outputs.model}}``, ``--cloudml-output-dir ${{outputs.output}}``, ``--cloudml-checkpoint-dir
  ${{outputs.checkpoints}}`` when a checkpoint URI is given, one ``--cloudml-channel NAME=${{inputs.NAME}}`` per
  channel, then the hyperparameters as ``--key value`` (Azure passes hyperparameters on the command line);
- a hyperparameter value may reference ``${{inputs.NAME}}`` or ``${{outputs.model|output|checkpoints}}`` (so scripts
  written for Azure ML, taking ``--data`` / ``--output_dir``, run unmodified); any other reference is refused;
- PyTorch DDP becomes ``PyTorch`` distribution with one process per device (Azure starts them and sets
  ``WORLD_SIZE``/``RANK``); TensorFlow multi-worker becomes ``TensorFlow`` distribution (Azure sets ``TF_CONFIG``);
- every job, endpoint, deployment and model carries the tags ``cloudml-job`` / ``cloudml-endpoint`` and
  ``cloudml-created`` (UTC ISO time).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from cloudml.errors import ValidationError
from cloudml.providers._azureml_envs import EnvChoice
from cloudml.providers._azureml_serving import SCORING_SCRIPT
from cloudml.spec import DeploySpec, TrainingSpec

OUTPUTS = ("model", "output", "checkpoints")
_SAFE = r"[A-Za-z0-9_@%+=:,./-]*"
_PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}")
_UNQUOTED = re.compile(rf"^{_SAFE}(\$\{{\{{(inputs|outputs)\.[A-Za-z0-9_]+\}}\}})?{_SAFE}$")
_FILE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def quote(arg: str) -> str:
    """Shell-quote ``arg`` unless it is plain (placeholders stay readable: Azure substitutes them textually)."""
    return arg if arg and _UNQUOTED.match(arg) else shlex.quote(arg)


def hp_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def check_references(spec: TrainingSpec) -> None:
    """Every ``${{inputs.X}}`` / ``${{outputs.Y}}`` in a hyperparameter names a channel / a cloudml output."""
    for key, value in spec.hyperparameters.items():
        for kind, name in _PLACEHOLDER.findall(hp_value(value)):
            if kind == "inputs" and name not in spec.channels:
                raise ValidationError(f"hyperparameters[{key!r}]", f"refers to ${{{{inputs.{name}}}}} but there is no "
                                      f"channel {name!r}", "channels: " + (", ".join(spec.channels) or "none"))
            if kind == "outputs" and (name not in OUTPUTS or (name == "checkpoints" and not spec.checkpoint_uri)):
                raise ValidationError(f"hyperparameters[{key!r}]", f"refers to ${{{{outputs.{name}}}}}",
                                      "outputs: model, output" + (", checkpoints" if spec.checkpoint_uri else ""))


def processes_per_node(spec: TrainingSpec, gpus: int) -> int:
    return spec.processes_per_node or max(1, gpus)


def command_line(spec: TrainingSpec) -> str:
    args = ["python", "cloudml_launcher.py",
            "--cloudml-provider", "azureml",
            "--cloudml-entry-point", spec.source.entry_point,
            "--cloudml-framework", spec.framework,
            "--cloudml-distribution", spec.effective_distribution,
            "--cloudml-processes-per-node", str(spec.processes_per_node or "auto"),
            "--cloudml-model-dir", "${{outputs.model}}",
            "--cloudml-output-dir", "${{outputs.output}}"]
    if spec.checkpoint_uri:
        args += ["--cloudml-checkpoint-dir", "${{outputs.checkpoints}}"]
    for name in sorted(spec.channels):
        args += ["--cloudml-channel", f"{name}=${{{{inputs.{name}}}}}"]
    for key, value in spec.hyperparameters.items():
        args += [f"--{key}", hp_value(value)]
    return " ".join(quote(a) for a in args)


def distribution(spec: TrainingSpec, gpus: int) -> dict[str, Any] | None:
    dist = spec.effective_distribution
    if dist == "none" and spec.instance_count > 1 and spec.framework == "pytorch":
        # one process per node, unwrapped; Azure's PyTorch distribution sets WORLD_SIZE/RANK/MASTER_ADDR for a
        # script that builds its own process group (as on SageMaker from SM_HOSTS)
        return {"type": "pytorch", "process_count_per_instance": 1}
    if dist == "none":
        return None
    if dist == "ddp":
        return {"type": "pytorch", "process_count_per_instance": processes_per_node(spec, gpus)}
    if dist == "multi_worker_mirrored":
        return {"type": "tensorflow", "worker_count": spec.instance_count}
    raise ValidationError("distribution", f"{dist!r} is not available on Azure ML through cloudml",
                          "use 'ddp' (PyTorch) or 'multi_worker_mirrored' (TensorFlow)")


def folder_or_file(uri: str) -> str:
    """``uri_file`` when the URI's last segment has a file suffix (``.csv``), else ``uri_folder``."""
    last = uri.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    return "uri_file" if not uri.endswith("/") and _FILE_SUFFIX.search(last) else "uri_folder"


def output_base(spec: TrainingSpec, datastore: str) -> str:
    base = spec.output_uri or f"azureml://datastores/{datastore}/paths/cloudml/jobs"
    return f"{base.rstrip('/')}/{spec.job_name}"


def parse_tags(value: Any, field: str = "provider_options.tags") -> dict[str, str]:
    """A tags option: a mapping, or ``"k=v,k2=v2"`` as a settings file gives it."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        pairs = [p.strip() for p in value.split(",") if p.strip()]
        if all("=" in p for p in pairs):
            return {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in pairs)}
    raise ValidationError(field, f"expected a mapping or 'key=value,...', got {value!r}")


def job_tags(spec: TrainingSpec, extra: Mapping[str, str], created_at: str) -> dict[str, str]:
    return {**dict(extra), **dict(spec.tags), "cloudml-job": str(spec.job_name), "cloudml-created": created_at}


def job_properties(spec: TrainingSpec, instance_type: str, bundle_sha256: str) -> dict[str, str]:
    """What ``describe_job`` reads back so ``Estimator.attach`` can rebuild the estimator."""
    return {
        "cloudml.framework": spec.framework, "cloudml.framework_version": str(spec.framework_version),
        "cloudml.entry_point": spec.source.entry_point, "cloudml.hyperparameters": json.dumps(dict(spec.hyperparameters)),
        "cloudml.instance_type": instance_type, "cloudml.instance_count": str(spec.instance_count),
        "cloudml.spot": str(spec.resources.spot).lower(), "cloudml.bundle_sha256": bundle_sha256,
    }


def environment_dict(env: EnvChoice) -> dict[str, Any]:
    if env.environment_id:
        return {"id": env.environment_id}
    return {"image": env.image, "conda": env.conda}


def job_request(spec: TrainingSpec, *, code: str, inputs: Mapping[str, str], environment: EnvChoice,
                compute: str | None, instance_type: str, gpus: int, datastore: str, experiment_name: str,
                tags: Mapping[str, str], created_at: str, bundle_sha256: str, spot_tier: bool) -> dict[str, Any]:
    """The command job for ``spec``. ``inputs`` maps each channel to its remote URI (local paths already
    uploaded); ``compute`` is a cluster name or None for serverless (then ``instance_type`` is sent)."""
    check_references(spec)
    base = output_base(spec, datastore)
    outputs: dict[str, dict[str, str]] = {
        "model": {"type": "uri_folder", "path": f"{base}/model/", "mode": "rw_mount"},
        "output": {"type": "uri_folder", "path": f"{base}/output/", "mode": "rw_mount"},
    }
    if spec.checkpoint_uri:
        outputs["checkpoints"] = {"type": "uri_folder", "path": spec.checkpoint_uri.rstrip("/") + "/", "mode": "rw_mount"}
    return {
        "name": spec.job_name,
        "display_name": spec.job_name,
        "experiment_name": experiment_name,
        "command": command_line(spec),
        "code": code,
        "environment": environment_dict(environment),
        "compute": compute,
        "instance_type": None if compute else instance_type,
        "instance_count": spec.instance_count,
        "distribution": distribution(spec, gpus),
        "inputs": {name: {"type": folder_or_file(uri), "path": uri, "mode": "ro_mount"}
                   for name, uri in sorted(inputs.items())},
        "outputs": outputs,
        "environment_variables": dict(spec.environment),
        "timeout": spec.max_run_seconds,
        "job_tier": "Spot" if spot_tier else None,
        "tags": job_tags(spec, tags, created_at),
        "properties": job_properties(spec, instance_type, bundle_sha256),
    }


# -- serving ------------------------------------------------------------------------------------------------
DEPLOYMENT_NAME = "cloudml"


def endpoint_request(spec: DeploySpec, name: str, tags: Mapping[str, str], created_at: str,
                     public_network_access: str | None = None, expires_at: str | None = None) -> dict[str, Any]:
    """``expires_at`` (from ``spec.ttl_seconds``) becomes the ``cloudml-expires`` tag ``cloudml cleanup`` reads."""
    req: dict[str, Any] = {
        "name": name, "auth_mode": "key",
        "tags": {**dict(tags), **dict(spec.tags), "cloudml-endpoint": name, "cloudml-created": created_at},
    }
    if expires_at:
        req["tags"]["cloudml-expires"] = expires_at
    if public_network_access:
        req["public_network_access"] = public_network_access
    return req


def deployment_request(spec: DeploySpec, endpoint: str, *, model_id: str, code: str, environment: EnvChoice,
                       instance_type: str, tags: Mapping[str, str], created_at: str,
                       egress_public_network_access: str | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {
        "name": DEPLOYMENT_NAME, "endpoint_name": endpoint, "model": model_id,
        "code_configuration": {"code": code, "scoring_script": SCORING_SCRIPT},
        "environment": environment_dict(environment),
        "instance_type": instance_type, "instance_count": spec.min_replicas,
        "environment_variables": dict(spec.environment),
        "tags": {**dict(tags), **dict(spec.tags), "cloudml-endpoint": endpoint, "cloudml-created": created_at},
    }
    if egress_public_network_access:
        req["egress_public_network_access"] = egress_public_network_access
    return req


def model_request(spec: DeploySpec, endpoint: str, model_uri: str, created_at: str) -> dict[str, Any]:
    return {"name": f"cloudml-{endpoint}", "version": "1", "path": model_uri, "type": "custom_model",
            "description": f"registered by cloudml for endpoint {endpoint}",
            "tags": {"cloudml-endpoint": endpoint, "cloudml-created": created_at,
                     "cloudml-framework": spec.framework}}
