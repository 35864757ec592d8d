"""The hostile-input suite: each test is one probe a hostile or careless user would try (issue 14).

``cloud`` runs a probe on ``local`` and on every rig (moto SageMaker, fake Vertex + GCS emulator, fake Azure ML +
Azurite) where a cloud path is involved; the rigs are the same fixtures the conformance suite uses. Every test
in this folder counts as one probe in the terminal summary (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cloudml import Estimator
from tests.conformance.suite import Rig
from tests.rigs.azureml_fixtures import azurite, fake_aml, provider_options  # noqa: F401  (fixtures)
from tests.rigs.sagemaker_fixtures import _sagemaker_server, sagemaker_rig  # noqa: F401  (fixtures)
from tests.rigs.vertex_fixtures import (  # noqa: F401  (fixtures)
    _vertex_servers,
    fake_vertex,
    gcs_emulator,
    vertex_options,
    vertex_rig,
)

CLOUDS = ("local", "sagemaker", "vertex", "azureml")
REPO = Path(__file__).resolve().parents[2]


def make_rig(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Rig:
    if name == "local":
        return Rig(provider="local", options={"root": str(tmp_path / "local-root")})
    if name == "sagemaker":
        sm = request.getfixturevalue("sagemaker_rig")
        return Rig(provider="sagemaker", options=sm.provider_options(), instance_type="ml.m5.xlarge",
                   deploy_instance_type="ml.m5.large", request_count=lambda: len(sm.requests))
    if name == "vertex":
        vx = request.getfixturevalue("vertex_rig")
        opts = request.getfixturevalue("vertex_options")
        return Rig(provider="vertex", options={**opts, "poll_interval": (0.1, 0.5)}, instance_type="n1-standard-4",
                   deploy_instance_type="n1-standard-2", request_count=lambda: len(vx.requests),
                   extra={"framework_version": "2.4"})
    aml = request.getfixturevalue("fake_aml")
    return Rig(provider="azureml", options=request.getfixturevalue("provider_options"),
               instance_type="Standard_D2s_v3", deploy_instance_type="Standard_DS3_v2",
               request_count=lambda: len(aml.requests))


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest, tmp_path: Path) -> Rig:
    """One provider with its offline rig: ``local`` first, then every cloud."""
    return make_rig(request.param, request, tmp_path)


@pytest.fixture
def local_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Rig:
    return make_rig("local", request, tmp_path)


def estimator(rig: Rig, source_dir: Path, entry_point: str = "train.py", **kwargs: Any) -> Estimator:
    """An Estimator for ``source_dir`` on ``rig`` (its instance type and, for Vertex, a version it has)."""
    kwargs.setdefault("instance_type", rig.instance_type)
    if "framework_version" in rig.extra:
        kwargs.setdefault("framework_version", rig.extra["framework_version"])
    return Estimator(entry_point, source_dir, provider=rig.provider, provider_options=rig.options, **kwargs)


def race_submits(rig: Rig, source_dir: Path, job_name: str, specs: list[dict[str, Any]]) -> dict[int, object]:
    """Submit ``fit(job_name=...)`` once per spec (Estimator keyword arguments) from as many threads, released
    together; what each caller got: its Job or the exception it raised."""
    import threading

    results: dict[int, object] = {}
    barrier = threading.Barrier(len(specs))

    def submit(i: int) -> None:
        est = estimator(rig, source_dir, **specs[i])
        barrier.wait()
        try:
            results[i] = est.fit(job_name=job_name, wait=False)
        except Exception as exc:  # noqa: BLE001 - the probe records what each caller got
            results[i] = exc

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(specs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def project(folder: Path, files: dict[str, str | bytes]) -> Path:
    """A source tree: relative path -> text (dedented) or bytes."""
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return folder


#: A training script that writes a model and prints what a careless one might: its secrets.
TELLTALE = """
import json, os
print("environment secret:", os.environ.get("DB_PASSWORD"), flush=True)
print("inherited secret:", os.environ.get("HF_TOKEN"), os.environ.get("GITHUB_TOKEN"), flush=True)
print("hyperparameters:", os.environ.get("CLOUDML_HPS"), flush=True)
model_dir = os.environ.get("CLOUDML_MODEL_DIR") or os.environ["SM_MODEL_DIR"]
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "model.txt"), "w") as f:
    f.write("ok")
"""


def run_python(code: str, *, as_nobody: bool = False, limits: Callable[[], None] | None = None,
               env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter importing this checkout's cloudml (optionally as uid 65534, so file
    permissions bite even when the suite runs as root)."""
    def pre() -> None:
        if limits is not None:
            limits()
        if as_nobody:
            os.setgid(65534)
            os.setuid(65534)

    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    python = sys.executable
    if as_nobody:  # the suite's interpreter may live where uid 65534 cannot read (/root/...): a system one
        import shutil

        python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
    return subprocess.run([python, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, preexec_fn=pre if (as_nobody or limits) else None)
