"""The platforms' own conventions, honoured on every provider by the launcher. Standard library only.

* Azure ML: ``${{inputs.NAME}}`` (a channel's path) and ``${{outputs.model|output|checkpoints|NAME}}`` in
  hyperparameter values resolve to paths (on ``azureml`` Azure has resolved them before the launcher runs);
  ``./outputs`` and ``./logs`` exist in the working directory; after the run they are copied under the job's output
  directory (SageMaker ``/opt/ml/output/data`` -> ``output.tar.gz``, Vertex ``<base>/output/``, Azure ML the
  ``output`` output, besides Azure's own upload of them); ``local`` keeps the working directory itself.
* Vertex AI: ``AIP_TRAINING_DATA_URI`` / ``AIP_VALIDATION_DATA_URI`` / ``AIP_TEST_DATA_URI`` (a wildcard over the
  files of the channel named training / validation / test: ``gs://...`` on Vertex, a local path elsewhere),
  ``AIP_DATA_FORMAT`` (from the files' suffix), ``AIP_TENSORBOARD_LOG_DIR`` when the platform set none.
* SageMaker's fixed paths on Vertex AI and Azure ML (which have none): when the container has no ``/opt/ml`` (or an
  empty mount point of its own), the launcher makes one that links to the job's model, channel, output and checkpoint folders, with the
  ``input/config`` files SageMaker writes, so a script that hard-codes ``/opt/ml`` runs there too
  (``CLOUDML_OPT_ML=0`` turns it off; something already at ``/opt/ml`` is never touched).
* The model: when the script left the model directory empty, an MLflow model it saved (a folder holding
  ``MLmodel`` under ``./outputs``, ``./mlruns`` or the working directory) becomes the model, else the files it wrote
  to ``./outputs`` (where Azure ML users put models); a still-empty model is reported loudly with the files the
  script did write.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_.-]+)\s*\}\}")
_DATA_CHANNELS = {"training": "AIP_TRAINING_DATA_URI", "validation": "AIP_VALIDATION_DATA_URI",
                  "test": "AIP_TEST_DATA_URI"}
_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".tfrecord": "tf-record", ".tfrecords": "tf-record",
            ".gz": "tf-record-gzip"}
_SKIP = ("cloudml_runtime", "__pycache__", ".git")


class UnknownReference(ValueError):
    """A ``${{...}}`` reference that names nothing this job has."""


def resolve_references(hps: dict[str, Any], channels: dict[str, str], outputs: dict[str, str]) -> dict[str, Any]:
    """Hyperparameter values with Azure ML's ``${{inputs.X}}`` / ``${{outputs.Y}}`` replaced by paths."""
    def one(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "inputs":
            if name not in channels:
                raise UnknownReference(f"${{{{inputs.{name}}}}} names no channel (channels: "
                                      f"{', '.join(sorted(channels)) or 'none'})")
            return channels[name]
        if name in outputs:
            return outputs[name]
        path = os.path.join(outputs["output"], name)
        os.makedirs(path, exist_ok=True)
        return path

    return {k: PLACEHOLDER.sub(one, v) if isinstance(v, str) else v for k, v in hps.items()}


def local_to_gcs(path: str) -> str:
    mount = os.environ.get("CLOUDML_GCS_MOUNT", "/gcs").rstrip("/") + "/"
    return "gs://" + path[len(mount):] if path.startswith(mount) else path


def _data_format(path: str) -> str:
    files = [path] if os.path.isfile(path) else sorted(glob.glob(os.path.join(path, "**", "*"), recursive=True))
    for f in files:
        fmt = _FORMATS.get(os.path.splitext(f)[1].lower())
        if fmt:
            return fmt
    return "csv"


def extend_env(job: dict[str, Any], env: dict[str, str]) -> None:
    """Vertex's data and TensorBoard variables, where the platform did not set them."""
    vertex = job["provider"] == "vertex"
    data_format = None
    for name, var in _DATA_CHANNELS.items():
        path = job["channels"].get(name)
        if path is None or var in os.environ:
            continue
        uri = path if os.path.isfile(path) else os.path.join(path.rstrip("/"), "*")
        env[var] = local_to_gcs(uri) if vertex else uri
        data_format = data_format or _data_format(path)
    if data_format and "AIP_DATA_FORMAT" not in os.environ:
        env["AIP_DATA_FORMAT"] = data_format
    if "AIP_TENSORBOARD_LOG_DIR" not in os.environ:
        tb = os.path.join(str(job["output_dir"]), "tensorboard")
        env["AIP_TENSORBOARD_LOG_DIR"] = tb


def prepare_workdir(code_dir: str) -> None:
    for sub in ("outputs", "logs"):
        os.makedirs(os.path.join(code_dir, sub), exist_ok=True)


def _files(base: str, since: float = 0.0) -> list[str]:
    out = []
    for root, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if d not in _SKIP]
        for f in files:
            path = os.path.join(root, f)
            try:
                if not os.path.islink(path) and os.path.getmtime(path) >= since - 1:
                    out.append(path)
            except OSError:
                pass
    return out


def _has_files(folder: str) -> bool:
    return os.path.isdir(folder) and bool(_files(folder))


def find_mlflow_model(code_dir: str, since: float) -> str | None:
    """The newest folder holding an ``MLmodel`` file written during the run (./outputs, ./mlruns, the cwd)."""
    found: list[tuple[float, str]] = []
    for path in _files(code_dir, since):
        if os.path.basename(path) == "MLmodel":
            found.append((os.path.getmtime(path), os.path.dirname(path)))
    return max(found)[1] if found else None


def _copy_into(src: str, dest: str) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=False)


OPT_ML = "/opt/ml"


def _is_mount(path: str) -> bool:
    """A mount point, bind mounts on the same file system included (``os.path.ismount`` misses those)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == real for line in f if len(line.split()) > 4)
    except OSError:
        return os.path.ismount(real)


def opt_ml_view(job: dict[str, Any], log: Callable[[str], None], root: str = OPT_ML) -> bool:
    """Give a script on Vertex AI or Azure ML SageMaker's fixed ``/opt/ml`` paths (links to the job's folders and
    the ``input/config`` files); True when made. Only in a container whose ``/opt/ml`` is absent or empty."""
    if job["provider"] not in ("vertex", "azureml") or os.environ.get("CLOUDML_OPT_ML") == "0":
        return False
    try:
        # absent (a container without it), or an empty mount point (a private one a rig gave the container);
        # never a folder that is simply there, such as a host's own /opt/ml
        if os.path.lexists(root) and not (os.path.isdir(root) and _is_mount(root) and not os.listdir(root)):
            return False
        config = os.path.join(root, "input", "config")
        for sub in (config, os.path.join(root, "input", "data"), os.path.join(root, "output")):
            os.makedirs(sub, exist_ok=True)
        links = {"model": job["model_dir"], "checkpoints": job["checkpoint_dir"],
                 os.path.join("output", "data"): job["output_dir"]}
        links.update({os.path.join("input", "data", name): path for name, path in job["channels"].items()})
        for rel, target in links.items():
            os.symlink(str(target), os.path.join(root, rel))
        files = {
            # SageMaker writes every hyperparameter value as a JSON string
            "hyperparameters.json": {k: json.dumps(v) for k, v in job["hps"].items()},
            "resourceconfig.json": {"current_host": job["current_host"], "hosts": job["hosts"],
                                    "network_interface_name": "eth0"},
            "inputdataconfig.json": {name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                                            "RecordWrapperType": "None"} for name in sorted(job["channels"])},
        }
        for name, content in files.items():
            fd = os.open(os.path.join(config, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:   # hyperparameters may hold secrets: owner-only
                json.dump(content, f)
    except OSError as exc:
        log(f"[cloudml] no /opt/ml for this job ({exc}); SageMaker's fixed paths are not available here")
        return False
    log(f"[cloudml] {root} links to this job's model, data, output and checkpoint folders")
    return True


def after_run(job: dict[str, Any], code_dir: str, started: float, log: Callable[[str], None]) -> None:
    """Once the script succeeded: fill an empty model from MLflow / ./outputs, keep ./outputs and ./logs with
    the job's outputs, and warn loudly when the model is still empty."""
    model_dir, output_dir = str(job["model_dir"]), str(job["output_dir"])
    primary = job["current_host"] == job["hosts"][0]
    if primary and not _has_files(model_dir):
        mlflow_dir = find_mlflow_model(code_dir, started)
        outputs = os.path.join(code_dir, "outputs")
        if mlflow_dir:
            _copy_into(mlflow_dir, model_dir)
            log(f"[cloudml] the model directory was empty: the MLflow model the script saved in "
                f"{os.path.relpath(mlflow_dir, code_dir)} is the model")
        elif _files(outputs, started):
            _copy_into(outputs, model_dir)
            log("[cloudml] the model directory was empty: the files the script wrote to ./outputs are the model")
    if job["provider"] != "local":   # local keeps the working directory itself
        for sub in ("outputs", "logs"):
            src = os.path.join(code_dir, sub)
            if _has_files(src):
                _copy_into(src, os.path.join(output_dir, sub))
    if primary and not _has_files(model_dir):
        written = [os.path.relpath(p, code_dir) for p in _files(code_dir, started)][:8]
        written += _files(output_dir, started)[:8]
        log(f"[cloudml] WARNING: the model artifact is EMPTY: the script saved nothing to {model_dir} "
            "(SM_MODEL_DIR / CLOUDML_MODEL_DIR / AIP_MODEL_DIR)"
            + ("; it wrote: " + ", ".join(written) if written else "; it wrote no other file either"))
