"""The platforms' conventions on ``local`` that the idiom projects do not cover alone (docs/contract.md):
an MLflow model found, an empty model said loudly, ``${{outputs.x}}`` references, the refusal where /opt/ml
cannot be made, and serving handlers loaded from a training script or an Azure ``score.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cloudml import Estimator, Job
from cloudml.runtime.serving import Model, handler_names

REPO = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, script: str, **files: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "train.py").write_text(script)
    for name, text in files.items():
        (src / name).write_text(text)
    return src


def members(model_uri: str) -> list[str]:
    with tarfile.open(model_uri) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def fit(tmp_path: Path, src: Path, **kwargs):
    est = Estimator("train.py", src, provider="local", provider_options={"root": str(tmp_path / "root")}, **kwargs)
    return est, est.fit(logs=False)


def test_an_mlflow_model_saved_under_mlruns_becomes_the_model(tmp_path: Path) -> None:
    src = project(tmp_path, (  # the layout mlflow.<flavor>.log_model leaves in ./mlruns
        "import os\n"
        "d = os.path.join('mlruns', '0', 'a1b2', 'artifacts', 'model')\n"
        "os.makedirs(d)\n"
        "open(os.path.join(d, 'MLmodel'), 'w').write('flavors:\\n  python_function: {}\\n')\n"
        "open(os.path.join(d, 'model.pkl'), 'wb').write(b'weights')\n"))
    _, job = fit(tmp_path, src)
    info = job.describe()
    assert members(info.model_uri) == ["MLmodel", "model.pkl"]
    assert "warning" not in info.extra


def test_an_empty_model_is_reported_loudly_naming_the_files_the_script_wrote(tmp_path: Path, capsys) -> None:
    src = project(tmp_path, "open('weights.bin', 'wb').write(b'x')\n")
    _, job = fit(tmp_path, src)
    info = job.describe()
    assert members(info.model_uri) == []
    warning = info.extra["warning"]
    assert "EMPTY" in warning and "weights.bin" in warning and "SM_MODEL_DIR" in warning
    assert "WARNING" in capsys.readouterr().err
    assert any("model artifact is EMPTY" in line for line in Job(job.provider, job.name).logs())


def test_outputs_references_resolve_to_the_job_folders(tmp_path: Path) -> None:
    src = project(tmp_path, (
        "import argparse, os\n"
        "p = argparse.ArgumentParser(); p.add_argument('--model_output'); p.add_argument('--extra')\n"
        "a = p.parse_args()\n"
        "assert a.model_output == os.environ['SM_MODEL_DIR'], (a.model_output, os.environ['SM_MODEL_DIR'])\n"
        "assert os.path.isdir(a.extra) and a.extra.startswith(os.environ['SM_OUTPUT_DATA_DIR'])\n"
        "open(os.path.join(a.model_output, 'm.txt'), 'w').write('m')\n"))
    _, job = fit(tmp_path, src, hyperparameters={"model_output": "${{outputs.model}}",
                                                 "extra": "${{outputs.reports}}"})
    assert members(job.describe().model_uri) == ["m.txt"]


def test_without_a_namespace_hard_coded_opt_ml_is_refused_before_the_run_and_others_still_run(
        tmp_path: Path) -> None:
    hard = project(tmp_path, "open('/opt/ml/model/m.txt', 'w').write('x')\n")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text("import os\nopen(os.path.join(os.environ['SM_MODEL_DIR'], 'm'), 'w').write('')\n")
    code = (
        "import sys\n"
        "from cloudml import Estimator\n"
        "from cloudml.errors import ValidationError\n"
        f"opts = {{'root': {str(tmp_path / 'root')!r}}}\n"
        "try:\n"
        f"    Estimator('train.py', {str(hard)!r}, provider='local', provider_options=opts).fit(logs=False)\n"
        "except ValidationError as exc:\n"
        "    print('REFUSED', exc.field, exc)\n"
        f"job = Estimator('train.py', {str(plain)!r}, provider='local', provider_options=opts).fit(logs=False)\n"
        "print('RAN', job.describe().state.value, job.describe().extra['namespace'])\n")
    env = {**os.environ, "CLOUDML_LOCAL_NAMESPACE": "0", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "REFUSED source_dir" in out.stdout and "train.py hard-codes /opt/ml" in out.stdout
    assert "CLOUDML_LOCAL_NAMESPACE=0" in out.stdout
    assert "RAN Completed None" in out.stdout
    assert len(list((tmp_path / "root" / "jobs").iterdir())) == 1, "the refused job created nothing"


def test_handler_names_are_read_without_importing(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("raise SystemExit('imported!')\ndef model_fn(d): pass\ndef run(x): pass\n")
    assert handler_names(str(script)) == {"model_fn", "run"}
    assert handler_names(str(tmp_path / "missing.py")) == set()


def test_a_score_py_is_served_through_model(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "scale.json").write_text("3")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(
        "import json, os\n"
        "def init():\n"
        "    global scale\n"
        "    scale = json.load(open(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'scale.json')))\n"
        "def run(raw_data):\n"
        "    return [scale * x for x in json.loads(raw_data)['data']]\n")
    env_before = os.environ.get("AZUREML_MODEL_DIR")
    try:
        model = Model(str(tmp_path / "model"), str(tmp_path / "code"), "score.py")
        body, ctype = model(b'{"data": [1, 2]}', "application/json", "application/json")
    finally:
        if env_before is None:
            os.environ.pop("AZUREML_MODEL_DIR", None)
    assert (json.loads(body), ctype) == ([3, 6], "application/json")


def test_a_training_script_without_handlers_is_not_served(tmp_path: Path) -> None:
    src = project(tmp_path, "import os\nopen(os.path.join(os.environ['SM_MODEL_DIR'], 'weights.bin'), 'w')\n"
                            "def run(): pass\n")   # a run() here is not Azure scoring: no handlers to serve
    est, _ = fit(tmp_path, src)
    with pytest.raises(Exception, match="no model_fn"):
        est.deploy()


def test_a_missing_mountpoint_is_made_inside_the_namespace_only(tmp_path: Path) -> None:
    """What happens to /opt on a host without /opt/ml, shown on a folder of our own: inside, ``ml`` exists and
    every original entry is still there (file, folder, symlink, writable through); outside, nothing changed."""
    from cloudml.providers import _local_namespace

    if _local_namespace.mode()[0] is None:
        pytest.skip(_local_namespace.mode()[1])
    parent = tmp_path / "opt"
    (parent / "tool").mkdir(parents=True)
    (parent / "tool" / "bin").write_text("tool")
    (parent / "notes.txt").write_text("notes")
    (parent / "link").symlink_to("tool")
    code = (
        "import os, sys\n"
        "from cloudml.providers import _local_namespace as ns\n"
        f"parent = {str(parent)!r}\n"
        f"ns.enter(os.geteuid() != 0)\n"
        f"made = ns.make_mountpoint(ns._libc(), parent, 'ml', {str(tmp_path / 'scratch')!r})\n"
        "open(os.path.join(made, 'inside'), 'w').write('x')\n"
        "open(os.path.join(parent, 'tool', 'written'), 'w').write('through')\n"
        "print(sorted(os.listdir(parent)), open(os.path.join(parent, 'link', 'bin')).read(),\n"
        "      open(os.path.join(parent, 'notes.txt')).read())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['link', 'ml', 'notes.txt', 'tool'] tool notes"
    assert sorted(p.name for p in parent.iterdir()) == ["link", "notes.txt", "tool"]   # no ml outside
    assert (parent / "tool" / "written").read_text() == "through"   # the host's entries are the real ones
