"""The launcher's TensorFlow side, through real bundles (no TensorFlow needed): one worker process per node,
the ``TF_CONFIG`` it writes for multi-worker jobs, a platform's own ``TF_CONFIG`` left alone, and a
requirements file with only comments installing nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rigs.contract import run_bundle
from tests.unit.test_launcher import bundle_of, sagemaker_root

COUNT = """
import json, os
path = os.path.join(os.environ["CLOUDML_MODEL_DIR"], "runs.jsonl")
with open(path, "a") as f:
    f.write(json.dumps({"tf_config": os.environ.get("TF_CONFIG"), "rank": os.environ.get("RANK")}) + "\\n")
"""


def _runs(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "model" / "runs.jsonl").read_text().splitlines()]


def _tf_env(**extra: str) -> dict[str, str]:
    return {"CLOUDML_PROVIDER": "sagemaker", "CLOUDML_ENTRY_POINT": "count.py", "CLOUDML_FRAMEWORK": "tensorflow",
            "CLOUDML_DISTRIBUTION": "multi_worker_mirrored", "CLOUDML_PROCESSES_PER_NODE": "4",
            "CLOUDML_NUM_GPUS": "4", **extra}


def test_tensorflow_runs_one_worker_per_node_with_a_worker_tf_config(tmp_path: Path) -> None:
    root = tmp_path / "opt_ml"
    sagemaker_root(root, {}, {})  # host algo-2 of algo-1, algo-2
    run = run_bundle(bundle_of(tmp_path, COUNT, "count.py"), tmp_path / "w", env=_tf_env(),
                     args=["--cloudml-root", str(root)])
    assert run.returncode == 0, run.output
    (seen,) = _runs(root)  # one process, even with 4 GPUs and processes_per_node=4
    assert json.loads(seen["tf_config"]) == {"cluster": {"worker": ["algo-1:2222", "algo-2:2222"]},
                                             "task": {"type": "worker", "index": 1}}
    assert "[cloudml] TF_CONFIG" in run.output and "torch.distributed.run" not in run.output


def test_worker_addresses_given_by_the_provider_are_used(tmp_path: Path) -> None:
    root = tmp_path / "opt_ml"
    sagemaker_root(root, {}, {})
    run = run_bundle(bundle_of(tmp_path, COUNT, "count.py"), tmp_path / "w", env=_tf_env(),
                     args=["--cloudml-root", str(root), "--cloudml-worker-addrs", "127.0.0.1:4001,127.0.0.1:4002"])
    assert run.returncode == 0, run.output
    (seen,) = _runs(root)
    assert json.loads(seen["tf_config"])["cluster"]["worker"] == ["127.0.0.1:4001", "127.0.0.1:4002"]


def test_a_platform_tf_config_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "opt_ml"
    sagemaker_root(root, {}, {})
    platform = json.dumps({"cluster": {"chief": ["c:1"], "worker": ["w:1"]}, "task": {"type": "worker", "index": 0}})
    run = run_bundle(bundle_of(tmp_path, COUNT, "count.py"), tmp_path / "w", env=_tf_env(TF_CONFIG=platform),
                     args=["--cloudml-root", str(root)])
    assert run.returncode == 0, run.output
    assert _runs(root)[0]["tf_config"] == platform
    assert "[cloudml] TF_CONFIG" not in run.output


def test_a_requirements_file_with_only_comments_installs_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "count.py").write_text(COUNT)
    (src / "requirements.txt").write_text("# tensorflow comes from the image\n\n   # nothing else\n")
    from cloudml.packaging import build

    bundle = build(src, tmp_path / "bundles", entry_point="count.py").path
    root = tmp_path / "opt_ml"
    sagemaker_root(root, {}, {})
    run = run_bundle(bundle, tmp_path / "w", env={"CLOUDML_PROVIDER": "sagemaker", "CLOUDML_ENTRY_POINT": "count.py"},
                     args=["--cloudml-root", str(root)])
    assert run.returncode == 0, run.output
    assert "lists nothing to install" in run.output and "pip" not in run.output
