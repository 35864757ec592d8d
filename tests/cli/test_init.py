"""``cloudml init``: scaffolds from whatever templates ship, refuses to overwrite, and every template's scaffold
trains and serves on local as generated (pytorch's is covered by the acceptance test in test_cli_local)."""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path

import pytest

from cloudml.commands.init import available


def test_unknown_framework_exits_2_listing_the_templates(cli, tmp_path):
    r = cli("init", "pytorc", str(tmp_path / "x"))
    assert r.code == 2 and "did you mean pytorch" in r.stderr and "available: " in r.stderr
    assert not (tmp_path / "x").exists()


def test_refuses_to_overwrite_without_force(cli, tmp_path):
    dest = tmp_path / "proj"
    assert cli("init", "torch", str(dest)).code == 0, "aliases work"
    (dest / "train.py").write_text("# mine\n")
    r = cli("init", "pytorch", str(dest))
    assert r.code == 2 and "would overwrite" in r.stderr and "train.py" in r.stderr
    assert (dest / "train.py").read_text() == "# mine\n"
    r = cli("--json", "init", "pytorch", str(dest), "--force")
    assert r.code == 0 and "train.py" in r.json["files"]
    assert (dest / "train.py").read_text() != "# mine\n"
    assert not list(dest.rglob("__pycache__")), "no build litter is copied"


def test_init_into_the_current_folder(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("init", "pytorch")
    assert r.code == 0 and (tmp_path / "job.yaml").is_file()
    assert "cloudml train job.yaml --provider local" in r.stdout


@pytest.mark.parametrize("framework", [f for f in available() if f != "pytorch"])
def test_other_templates_train_and_serve_on_local(framework, cli, tmp_path, monkeypatch, endpoints_to_delete):
    monkeypatch.chdir(tmp_path)
    assert cli("init", framework, "proj").code == 0
    r = cli("train", "proj/job.yaml", "--provider", "local")
    assert r.code == 0, r.stdout + r.stderr
    job = re.search(r"submitted (\S+) on local", r.stdout).group(1)
    r = cli("--json", "deploy", job)
    assert r.code == 0, r.stderr
    endpoint = r.json["name"]
    endpoints_to_delete.append(endpoint)
    rows = sorted(glob.glob(str(tmp_path / "proj" / "data" / "*.csv")))
    if rows:  # predict on the first training row's features
        first = Path(rows[0]).read_text().splitlines()[0].split(",")
        features = [float(v) for v in first[:-1]]
        r = cli("endpoints", "predict", endpoint, json.dumps({"instances": [features]}))
        assert r.code == 0, r.stderr
        assert len(r.json["predictions"]) == 1
    assert cli("endpoints", "delete", endpoint).code == 0
