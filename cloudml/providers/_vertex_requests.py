"""Pure request builders for Vertex AI: spec in, REST body (camelCase dict) out. No SDK import, no network.

Each body is exactly what goes on the wire (``aiplatform_v1.<Message>.from_json(json.dumps(body))`` checks the
field names strictly); snapshot tests pin them.

How a training container runs the bundle (``containerSpec`` on the framework's prebuilt training image)::

    sh -c '<extract $MOUNT/<bucket>/<prefix>/code/<sha256>.tar.gz into a temp dir; cd there;
           exec python cloudml_launcher.py [--cloudml-checkpoint-dir $MOUNT/...] "$@">' cloudml <hyperparameters>

``$MOUNT`` is ``${CLOUDML_GCS_MOUNT:-/gcs}``: Vertex mounts every bucket the job can read at ``/gcs/<bucket>``
(rigs point the variable elsewhere). Node-level ``WORLD_SIZE``/``RANK`` that a platform may set for PyTorch images
(AI Platform did) are cleared first, so the launcher's layout from ``CLUSTER_SPEC`` (torchrun, one process per
GPU) is the one that runs. Hyperparameters travel the Vertex way, as container ``args``
(``--key value``); launcher settings travel as ``CLOUDML_*`` entries of ``containerSpec.env``, which is also where
``describe_job`` reads framework, entry point and code URI back for ``attach``. ``baseOutputDirectory`` makes
Vertex set ``AIP_MODEL_DIR=<base>/model/``, ``AIP_CHECKPOINT_DIR=<base>/checkpoints/`` and
``AIP_TENSORBOARD_LOG_DIR=<base>/logs/``; the launcher reads them through the mount, and writes the failure
reason to ``<base>/output/failure``. More than one instance: pool 0 is the chief (1 replica), pool 1 the other
``instance_count - 1`` workers, same machine; Vertex gives each replica ``CLUSTER_SPEC`` (and ``TF_CONFIG``).

How a model is served (``Model.containerSpec``): a TensorFlow SavedModel without ``inference.py`` uses Vertex's
prebuilt TF prediction image (TF Serving, ``saved_model.pb`` at the artifact root). Everything else runs
cloudml's serving adapter on the framework's prebuilt training image: ``python -c SERVE_BOOTSTRAP`` downloads
the serving bundle (``CLOUDML_CODE_URI``: the user's ``inference.py`` + ``cloudml_runtime/``) and the model
(``AIP_STORAGE_URI``) with the standard library, then runs ``python -m cloudml_runtime.serving`` on
``AIP_HTTP_PORT`` with ``predictRoute=/predict`` and ``healthRoute=/ping``: Vertex posts
``{"instances": [...], "parameters": ...}`` and expects ``{"predictions": [...]}`` — the adapter's defaults.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudml.runtime.launcher import hp_args

if TYPE_CHECKING:
    from cloudml.providers._vertex_machines import Machine
    from cloudml.spec import TrainingSpec

SERVING_PORT = 8080
PREDICT_ROUTE = "/predict"
HEALTH_ROUTE = "/ping"
CREATED_LABEL = "cloudml-created"
JOB_LABEL = "cloudml-job"
ENDPOINT_LABEL = "cloudml-endpoint"
MIN_BOOT_DISK_GB = 100  # Vertex's default and minimum boot disk

_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def label_value(text: str) -> str:
    """A Vertex label value: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    return _LABEL_BAD.sub("_", str(text).lower())[:63]


def label_key(text: str) -> str:
    key = label_value(text)
    return key if key[:1].isalpha() else ("x" + key)[:63]


def labels(created: int, user: Mapping[str, str], tags: Mapping[str, str], **own: str) -> dict[str, str]:
    """Labels for every resource cloudml creates: the user's labels and tags, then ``cloudml-created`` (epoch
    seconds) and cloudml's own (``cloudml-job`` / ``cloudml-endpoint``), which win on a clash."""
    out = {label_key(k): label_value(v) for k, v in {**user, **tags}.items()}
    out[CREATED_LABEL] = str(int(created))
    out.update({label_key(k.replace("_", "-")): label_value(v) for k, v in own.items()})
    return dict(sorted(out.items())[:64])


def gs_split(uri: str) -> tuple[str, str]:
    """``gs://bucket/path`` -> ``("bucket", "path")``."""
    bucket, _, path = uri[len("gs://"):].partition("/")
    return bucket, path


def training_command(code_uri: str, checkpoint_uri: str | None = None) -> list[str]:
    """The container command that extracts the bundle from the ``/gcs`` mount and runs the launcher."""
    bucket, path = gs_split(code_uri)
    extra = ""
    if checkpoint_uri:
        cb, cp = gs_split(checkpoint_uri)
        extra = ' --cloudml-checkpoint-dir "$mount"/' + shlex.quote(f"{cb}/{cp}".rstrip("/"))
    script = (
        "set -e\n"
        "unset WORLD_SIZE RANK LOCAL_RANK\n"   # node-level values some platforms set: the launcher lays out ranks
        'mount="${CLOUDML_GCS_MOUNT:-/gcs}"\n'
        'work="$(mktemp -d)"\n'
        'tar -xzf "$mount"/' + shlex.quote(f"{bucket}/{path}") + ' -C "$work"\n'
        'cd "$work"\n'
        "exec python cloudml_launcher.py" + extra + ' "$@"\n'
    )
    return ["sh", "-c", script, "cloudml"]


def _env(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in pairs.items()]


def training_env(spec: TrainingSpec, code_uri: str, channels: Mapping[str, str]) -> dict[str, str]:
    """``CLOUDML_*`` settings for the launcher (and for ``attach``), then the user's environment."""
    env = {
        "CLOUDML_PROVIDER": "vertex",
        "CLOUDML_ENTRY_POINT": spec.source.entry_point,
        "CLOUDML_FRAMEWORK": spec.framework,
        "CLOUDML_FRAMEWORK_VERSION": str(spec.framework_version),
        "CLOUDML_DISTRIBUTION": spec.effective_distribution,
        "CLOUDML_PROCESSES_PER_NODE": str(spec.processes_per_node or "auto"),
        "CLOUDML_CODE_URI": code_uri,
    }
    for name in sorted(channels):
        env["CLOUDML_CHANNEL_" + name.upper()] = channels[name]
    for key in sorted(spec.environment):
        env.setdefault(key, spec.environment[key])
    return env


def custom_job(
    spec: TrainingSpec,
    *,
    machine: Machine,
    image_uri: str,
    code_uri: str,
    channels: Mapping[str, str],
    base_output_uri: str,
    labels: Mapping[str, str],
    service_account: str | None = None,
    network: str | None = None,
    kms_key_name: str | None = None,
) -> dict[str, Any]:
    """The ``CustomJob`` body for ``POST .../customJobs``."""
    pool: dict[str, Any] = {
        "machineSpec": machine.machine_spec(),
        "replicaCount": 1,
        "containerSpec": {
            "imageUri": image_uri,
            "command": training_command(code_uri, spec.checkpoint_uri),
            "args": hp_args(dict(spec.hyperparameters)),
            "env": _env(training_env(spec, code_uri, channels)),
        },
    }
    if spec.resources.volume_gb > MIN_BOOT_DISK_GB and machine.kind != "tpu":
        pool["diskSpec"] = {"bootDiskType": "pd-ssd", "bootDiskSizeGb": spec.resources.volume_gb}
    pools = [pool]
    if spec.instance_count > 1:
        pools.append({**pool, "replicaCount": spec.instance_count - 1})
    scheduling: dict[str, Any] = {"timeout": f"{spec.max_run_seconds}s"}
    if spec.resources.spot:
        scheduling["strategy"] = "SPOT"   # no maxWaitDuration: Vertex applies it to FLEX_START only
    job_spec: dict[str, Any] = {
        "workerPoolSpecs": pools,
        "scheduling": scheduling,
        "baseOutputDirectory": {"outputUriPrefix": base_output_uri},
    }
    if service_account:
        job_spec["serviceAccount"] = service_account
    if network:
        job_spec["network"] = network
    body: dict[str, Any] = {"displayName": spec.job_name, "labels": dict(labels), "jobSpec": job_spec}
    if kms_key_name:
        body["encryptionSpec"] = {"kmsKeyName": kms_key_name}
    return body


# Runs inside the serving container (any image with Python 3.8+). Standard library only.
SERVE_BOOTSTRAP = r'''
import io, json, os, sys, tarfile, urllib.parse, urllib.request
EMULATOR = os.environ.get("STORAGE_EMULATOR_HOST", "").rstrip("/")
API = EMULATOR or "https://storage.googleapis.com"
def auth():
    if EMULATOR:
        return {}
    url = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Metadata-Flavor": "Google"}), timeout=60) as r:
        return {"Authorization": "Bearer " + json.load(r)["access_token"]}
def get(url, headers):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=600) as r:
        return r.read()
def media(bucket, name, headers):
    q = lambda s: urllib.parse.quote(s, safe="")
    return get(API + "/storage/v1/b/" + q(bucket) + "/o/" + q(name) + "?alt=media", headers)
def fetch_dir(uri, dest, headers):
    bucket, _, prefix = uri[len("gs://"):].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    token = None
    while True:
        query = {"prefix": prefix, **({"pageToken": token} if token else {})}
        page = json.loads(get(API + "/storage/v1/b/" + urllib.parse.quote(bucket, safe="") + "/o?"
                              + urllib.parse.urlencode(query), headers))
        for item in page.get("items", []):
            rel = item["name"][len(prefix):]
            if not rel or rel.endswith("/") or rel.startswith("/") or ".." in rel.split("/"):
                continue
            path = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(media(bucket, item["name"], headers))
        token = page.get("nextPageToken")
        if not token:
            return
headers = auth()
root = os.environ.get("CLOUDML_SERVING_ROOT", "/tmp/cloudml")
code, model = os.path.join(root, "code"), os.path.join(root, "model")
os.makedirs(model, exist_ok=True)
bucket, _, name = os.environ["CLOUDML_CODE_URI"][len("gs://"):].partition("/")
with tarfile.open(fileobj=io.BytesIO(media(bucket, name, headers)), mode="r:gz") as tar:
    for m in tar.getmembers():
        if m.name.startswith("/") or ".." in m.name.split("/") or not (m.isfile() or m.isdir()):
            sys.exit("unsafe member in serving bundle: " + m.name)
    tar.extractall(code)
fetch_dir(os.environ["AIP_STORAGE_URI"], model, headers)
os.chdir(code)
os.execv(sys.executable, [sys.executable, "-m", "cloudml_runtime.serving", "--model-dir", model, "--code-dir", code,
                          "--entry", os.environ.get("CLOUDML_INFERENCE_ENTRY", "inference.py"),
                          "--host", "0.0.0.0", "--port", os.environ.get("AIP_HTTP_PORT", "8080")])
'''


def model(
    name: str,
    *,
    artifact_uri: str,
    image_uri: str,
    labels: Mapping[str, str],
    code_uri: str | None = None,
    entry_point: str = "inference.py",
    environment: Mapping[str, str] | None = None,
    kms_key_name: str | None = None,
) -> dict[str, Any]:
    """The ``Model`` body for ``models:upload``. ``code_uri`` set: cloudml's serving adapter (custom command);
    unset: the image's own server (prebuilt TF Serving)."""
    container: dict[str, Any] = {"imageUri": image_uri}
    if code_uri:
        env = {"CLOUDML_CODE_URI": code_uri, "CLOUDML_INFERENCE_ENTRY": entry_point}
        for key in sorted(environment or {}):
            env.setdefault(key, (environment or {})[key])
        container.update({
            "command": ["python", "-c", SERVE_BOOTSTRAP],
            "env": _env(env),
            "ports": [{"containerPort": SERVING_PORT}],
            "predictRoute": PREDICT_ROUTE,
            "healthRoute": HEALTH_ROUTE,
        })
    elif environment:
        container["env"] = _env(dict(sorted(environment.items())))
    body: dict[str, Any] = {
        "displayName": name,
        "artifactUri": artifact_uri,
        "containerSpec": container,
        "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
        "labels": dict(labels),
    }
    if kms_key_name:
        body["encryptionSpec"] = {"kmsKeyName": kms_key_name}
    return body


def endpoint(name: str, *, labels: Mapping[str, str], kms_key_name: str | None = None) -> dict[str, Any]:
    """The ``Endpoint`` body for ``POST .../endpoints?endpointId=<name>``."""
    body: dict[str, Any] = {"displayName": name, "labels": dict(labels)}
    if kms_key_name:
        body["encryptionSpec"] = {"kmsKeyName": kms_key_name}
    return body


def deploy_model(
    endpoint_name: str,
    model_name: str,
    display_name: str,
    *,
    machine: Machine,
    min_replicas: int,
    max_replicas: int | None,
    service_account: str | None = None,
) -> dict[str, Any]:
    """The ``DeployModelRequest`` body for ``endpoints/E:deployModel``: all traffic to the new model."""
    deployed: dict[str, Any] = {
        "model": model_name,
        "displayName": display_name,
        "dedicatedResources": {
            "machineSpec": machine.machine_spec(),
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max_replicas or min_replicas,
        },
    }
    if service_account:
        deployed["serviceAccount"] = service_account
    return {"endpoint": endpoint_name, "deployedModel": deployed, "trafficSplit": {"0": 100}}


def predict_request(endpoint_name: str, payload: Any) -> dict[str, Any]:
    """``{"instances": [...], "parameters": ...}`` for ``:predict``; a bare list becomes the instances and
    any other value a single instance."""
    if isinstance(payload, dict) and "instances" in payload:
        instances = payload["instances"]
        body: dict[str, Any] = {"endpoint": endpoint_name,
                                "instances": instances if isinstance(instances, list) else [instances]}
        if payload.get("parameters") is not None:
            body["parameters"] = payload["parameters"]
        return body
    return {"endpoint": endpoint_name, "instances": payload if isinstance(payload, list) else [payload]}
