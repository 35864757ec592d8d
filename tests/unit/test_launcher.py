"""The runtime contract: what a user's script sees on each provider layout, run through a real bundle."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cloudml.packaging import build
from tests.rigs.contract import run_bundle

DUMP = """
import json, os, sys
keys = [k for k in os.environ if k.startswith(("CLOUDML_", "SM_", "AIP_")) or k in
        ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TF_CONFIG")]
out = {"env": {k: os.environ[k] for k in keys}, "argv": sys.argv[1:]}
open(os.path.join(os.environ["CLOUDML_MODEL_DIR"], "seen.json"), "w").write(json.dumps(out))
"""


def bundle_of(tmp_path: Path, script: str = DUMP, name: str = "dump.py") -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / name).write_text(script)
    return build(src, tmp_path / "bundles", entry_point=name).path


def sagemaker_root(root: Path, hps: dict, channels: dict[str, str]) -> None:
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps({k: json.dumps(v) for k, v in hps.items()}))
    (root / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    for name, content in channels.items():
        (root / "input" / "data" / name).mkdir(parents=True)
        (root / "input" / "data" / name / "part.csv").write_text(content)


def test_sagemaker_layout_gives_the_full_contract(tmp_path: Path) -> None:
    root = tmp_path / "opt_ml"
    sagemaker_root(root, {"epochs": 10, "lr": 0.001, "name": "run-a", "layers": [64, 32]}, {"training": "1,2\n"})
    run = run_bundle(bundle_of(tmp_path), tmp_path / "work", env={
        "CLOUDML_PROVIDER": "sagemaker", "CLOUDML_ENTRY_POINT": "dump.py", "CLOUDML_DISTRIBUTION": "none",
    }, args=["--cloudml-root", str(root)])
    assert run.returncode == 0, run.output
    seen = json.loads((root / "model" / "seen.json").read_text())
    env = seen["env"]
    assert env["SM_MODEL_DIR"] == env["CLOUDML_MODEL_DIR"] == env["AIP_MODEL_DIR"] == str(root / "model")
    assert env["SM_CHANNEL_TRAINING"] == env["CLOUDML_CHANNEL_TRAINING"] == str(root / "input" / "data" / "training")
    assert json.loads(env["SM_CHANNELS"]) == ["training"]
    assert json.loads(env["SM_HOSTS"]) == ["algo-1", "algo-2"] and env["SM_CURRENT_HOST"] == "algo-2"
    assert json.loads(env["CLOUDML_HPS"]) == json.loads(env["SM_HPS"]) == {
        "epochs": 10, "lr": 0.001, "name": "run-a", "layers": [64, 32]}
    assert env["SM_HP_EPOCHS"] == "10" and env["SM_NUM_GPUS"] == "0" and int(env["SM_NUM_CPUS"]) >= 1
    assert env["SM_OUTPUT_DATA_DIR"] == str(root / "output" / "data")
    assert env["CLOUDML_CHECKPOINT_DIR"] == str(root / "checkpoints")
    assert env["CLOUDML_PROVIDER"] == "sagemaker"
    # no distribution: the script runs unwrapped, one rank per host (algo-2 of 2), for its own process group
    assert env["WORLD_SIZE"] == "2" and env["RANK"] == "1" and env["LOCAL_RANK"] == "0"
    assert seen["argv"] == ["--epochs", "10", "--lr", "0.001", "--name", "run-a", "--layers", "[64, 32]"]


def test_vertex_layout_maps_gcs_through_the_mount(tmp_path: Path) -> None:
    mount = tmp_path / "gcs"
    (mount / "bucket" / "data").mkdir(parents=True)
    cluster = {"cluster": {"workerpool0": ["chief:2222"], "workerpool1": ["w1:2222", "w2:2222"]},
               "task": {"type": "workerpool1", "index": 1}}
    run = run_bundle(bundle_of(tmp_path), tmp_path / "work", env={
        "CLOUDML_PROVIDER": "vertex", "CLOUDML_ENTRY_POINT": "dump.py", "CLOUDML_GCS_MOUNT": str(mount),
        "AIP_MODEL_DIR": "gs://bucket/out/model/", "AIP_CHECKPOINT_DIR": "gs://bucket/out/checkpoints/",
        "CLOUDML_CHANNEL_TRAIN": "gs://bucket/data", "CLUSTER_SPEC": json.dumps(cluster),
    }, args=["--epochs", "2"])
    assert run.returncode == 0, run.output
    seen = json.loads((mount / "bucket" / "out" / "model" / "seen.json").read_text())
    env = seen["env"]
    assert env["AIP_MODEL_DIR"] == "gs://bucket/out/model/", "Vertex's own variable is left as Vertex set it"
    assert env["CLOUDML_MODEL_DIR"] == env["SM_MODEL_DIR"] == str(mount / "bucket" / "out" / "model") + "/"
    assert env["CLOUDML_CHANNEL_TRAIN"] == str(mount / "bucket" / "data")
    assert json.loads(env["SM_HOSTS"]) == ["chief", "w1", "w2"] and env["SM_CURRENT_HOST"] == "w2"
    assert seen["argv"] == ["--epochs", "2"]


def test_azureml_style_arguments(tmp_path: Path) -> None:
    data = tmp_path / "mounted" / "train"
    data.mkdir(parents=True)
    out = tmp_path / "outputs" / "model"
    run = run_bundle(bundle_of(tmp_path), tmp_path / "work", env={}, args=[
        "--cloudml-provider", "azureml", "--cloudml-entry-point", "dump.py",
        "--cloudml-channel", f"train={data}", "--cloudml-model-dir", str(out), "--lr", "0.5"])
    assert run.returncode == 0, run.output
    env = json.loads((out / "seen.json").read_text())["env"]
    assert env["CLOUDML_CHANNEL_TRAIN"] == env["SM_CHANNEL_TRAIN"] == str(data)
    assert env["CLOUDML_PROVIDER"] == "azureml" and json.loads(env["CLOUDML_HPS"]) == {"lr": 0.5}


def test_failure_writes_reason_and_last_lines_where_sagemaker_shows_them(tmp_path: Path) -> None:
    root = tmp_path / "opt_ml"
    sagemaker_root(root, {"password": "hunter2hunter2"}, {})
    script = "import sys\nprint('step 1 ok')\nprint('the password is hunter2hunter2')\nsys.exit(7)\n"
    run = run_bundle(bundle_of(tmp_path, script, "boom.py"), tmp_path / "work", env={
        "CLOUDML_PROVIDER": "sagemaker", "CLOUDML_ENTRY_POINT": "boom.py"}, args=["--cloudml-root", str(root)])
    assert run.returncode == 7
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("AlgorithmError: boom.py exited with code 7")
    assert "step 1 ok" in failure
    assert "hunter2hunter2" not in failure and "hunter2hunter2" not in run.output, "secret hyperparameters are masked"


def test_missing_entry_point_is_a_launch_error(tmp_path: Path) -> None:
    root = tmp_path / "opt_ml"
    sagemaker_root(root, {}, {})
    run = run_bundle(bundle_of(tmp_path), tmp_path / "work", env={
        "CLOUDML_PROVIDER": "sagemaker", "CLOUDML_ENTRY_POINT": "nope.py"}, args=["--cloudml-root", str(root)])
    assert run.returncode == 2
    assert "entry point 'nope.py'" in (root / "output" / "failure").read_text()


def test_two_processes_use_torchrun_command(tmp_path: Path) -> None:
    from cloudml.runtime import launcher

    job = {"hosts": ["algo-1", "algo-2"], "current_host": "algo-2", "processes_per_node": "4", "distribution": "ddp",
           "framework": "pytorch", "hps": {"lr": 0.1}, "master_addr": None, "master_port": "29500"}
    env: dict[str, str] = {}
    saved = {k: os.environ.pop(k) for k in ("WORLD_SIZE", "RANK") if k in os.environ}
    try:
        cmd = launcher.command_for(job, sys.executable, "train.py", env)
    finally:
        os.environ.update(saved)
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert "--nnodes=2" in cmd and "--node_rank=1" in cmd and "--nproc_per_node=4" in cmd
    assert "--master_addr=algo-1" in cmd and cmd[-3:] == ["train.py", "--lr", "0.1"]
