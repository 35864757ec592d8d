"""SageMaker's fixed /opt/ml on Vertex and Azure ML containers (cloudml_runtime.contract.opt_ml_view): made where
the container has none, never over a folder that is simply there (such as a host's own /opt/ml)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from cloudml.runtime import contract


def job(tmp_path: Path, provider: str = "vertex") -> dict:
    for sub in ("model", "out", "ckpt", "train"):
        (tmp_path / sub).mkdir(exist_ok=True)
    return {"provider": provider, "model_dir": str(tmp_path / "model"), "output_dir": str(tmp_path / "out"),
            "checkpoint_dir": str(tmp_path / "ckpt"), "channels": {"training": str(tmp_path / "train")},
            "hps": {"epochs": 3, "flag": "true", "secret_token": "s3cr3t"}, "hosts": ["workerpool0-0"],
            "current_host": "workerpool0-0"}


def test_an_absent_opt_ml_becomes_links_to_the_jobs_folders_and_sagemakers_config_files(tmp_path: Path) -> None:
    root = tmp_path / "container" / "opt-ml"
    lines: list[str] = []
    assert contract.opt_ml_view(job(tmp_path), lines.append, root=str(root))
    (root / "model" / "model.json").write_text("{}")
    assert (tmp_path / "model" / "model.json").is_file()        # written through the link
    assert os.path.realpath(root / "input" / "data" / "training") == str(tmp_path / "train")
    assert os.path.realpath(root / "output" / "data") == str(tmp_path / "out")
    hps = json.loads((root / "input" / "config" / "hyperparameters.json").read_text())
    assert hps == {"epochs": "3", "flag": '"true"', "secret_token": '"s3cr3t"'}   # JSON strings, as SageMaker
    assert stat.S_IMODE((root / "input" / "config" / "hyperparameters.json").stat().st_mode) == 0o600
    rc = json.loads((root / "input" / "config" / "resourceconfig.json").read_text())
    assert rc["hosts"] == ["workerpool0-0"] and rc["current_host"] == "workerpool0-0"
    assert json.loads((root / "input" / "config" / "inputdataconfig.json").read_text()).keys() == {"training"}


def test_a_folder_that_is_simply_there_is_never_touched(tmp_path: Path) -> None:
    root = tmp_path / "opt-ml"
    root.mkdir()                      # empty, but not a mount point: a host's own /opt/ml
    assert not contract.opt_ml_view(job(tmp_path, "azureml"), print, root=str(root))
    assert list(root.iterdir()) == []


def test_only_on_platforms_without_fixed_paths_and_not_when_turned_off(tmp_path: Path, monkeypatch) -> None:
    for provider in ("local", "sagemaker"):
        assert not contract.opt_ml_view(job(tmp_path, provider), print, root=str(tmp_path / provider))
        assert not (tmp_path / provider).exists()
    monkeypatch.setenv("CLOUDML_OPT_ML", "0")
    assert not contract.opt_ml_view(job(tmp_path), print, root=str(tmp_path / "off"))
    assert not (tmp_path / "off").exists()
