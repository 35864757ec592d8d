"""The CLI end to end on the local provider: real training processes, a real HTTP endpoint, real exit codes."""

from __future__ import annotations

import json
import re
import socket
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cli.helpers import PROJECTS, regression_job, write_job


def _submitted(stdout: str) -> str:
    match = re.search(r"submitted (\S+) on (\S+)", stdout)
    assert match, stdout
    return match.group(1)


def test_init_train_deploy_predict_delete(cli, tmp_path, monkeypatch, endpoints_to_delete):
    """The acceptance line: `cloudml init pytorch demo && cloudml train demo/job.yaml --provider local` trains;
    deploy + predict answer with the trained model's predictions; delete stops the server."""
    monkeypatch.chdir(tmp_path)
    r = cli("init", "pytorch", "demo")
    assert r.code == 0, r.stderr
    for name in ("train.py", "inference.py", "requirements.txt", "job.yaml", "model.py", "data/train.csv"):
        assert (tmp_path / "demo" / name).is_file(), name

    r = cli("train", "demo/job.yaml", "--provider", "local")
    assert r.code == 0, r.stdout + r.stderr
    job = _submitted(r.stdout)
    assert "epoch 0 loss" in r.stdout and "epoch 29 loss" in r.stdout, "the logs streamed"
    losses = [float(x) for x in re.findall(r"epoch \d+ loss ([0-9.]+)", r.stdout)]
    assert losses[-1] < losses[0] / 10, "it really learned"
    assert f"{job} Completed on local" in r.stdout and "cost $0.00" in r.stdout
    model_uri = re.search(r"model: (\S+)", r.stdout).group(1)
    assert Path(model_uri).is_file()

    r = cli("--json", "deploy", job, "--provider", "local")
    assert r.code == 0, r.stderr
    endpoint = r.json
    endpoints_to_delete.append(endpoint["name"])
    assert endpoint["state"] == "InService" and endpoint["url"].startswith("http://127.0.0.1:")

    r = cli("endpoints", "predict", endpoint["name"], '{"instances": [[0.5, -0.5], [0.0, 0.0]]}')
    assert r.code == 0, r.stderr
    served = r.json["predictions"]
    # y = 2*x1 - 3*x2 + 1 on the template's data: the served model learned it ...
    assert served == pytest.approx([3.5, 1.0], abs=0.3)
    # ... and it is exactly the model in the artifact, loaded in-process with the template's own handler
    art = tmp_path / "artifact"
    with tarfile.open(model_uri) as tar:
        tar.extractall(art, filter="data")
    monkeypatch.syspath_prepend(str(tmp_path / "demo"))
    import importlib

    inference = importlib.import_module("inference")
    assert inference.predict_fn([[0.5, -0.5], [0.0, 0.0]], inference.model_fn(str(art))) == pytest.approx(served, abs=1e-6)

    r = cli("endpoints", "list", "--format", "json")
    assert endpoint["name"] in [e["name"] for e in r.json]

    r = cli("endpoints", "delete", endpoint["name"])
    assert r.code == 0 and f"deleted {endpoint['name']}" in r.stdout
    url = urlsplit(endpoint["url"])
    with pytest.raises(OSError):
        socket.create_connection((url.hostname, url.port), timeout=2).close()
    assert endpoint["name"] not in [e["name"] for e in cli("endpoints list --format json").json]
    r = cli("endpoints", "predict", endpoint["name"], '{"instances": [[0.5, -0.5]]}')
    assert r.code == 1 and "no local endpoint" in r.stderr and "Traceback" not in r.stderr + r.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """One finished regression job, trained through the CLI, shared by the read-only job tests."""
    from click.testing import CliRunner

    from cloudml.cli import main

    tmp = tmp_path_factory.mktemp("trained")
    job_yaml = regression_job(tmp)
    result = CliRunner().invoke(main, ["--json", "train", str(job_yaml)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_train_json_prints_one_summary_document(trained):
    assert trained["state"] == "Completed" and trained["provider"] == "local"
    assert Path(trained["model_uri"]).is_file()
    assert trained["billable_s"] > 0 and trained["duration_s"] >= trained["billable_s"] - 1
    assert trained["cost_usd"] == 0.0


def test_jobs_list_describe_logs_wait(cli, trained):
    name = trained["job"]
    r = cli("jobs", "list")
    assert r.code == 0 and name in r.stdout and "Completed" in r.stdout
    rows = cli("jobs list --format json").json
    mine = next(row for row in rows if row["name"] == name)
    assert mine["state"] == "Completed" and mine["model_uri"] == trained["model_uri"]
    csv_lines = cli("jobs list --format csv").stdout.splitlines()
    assert csv_lines[0].startswith("name,state,created") and any(line.startswith(name + ",") for line in csv_lines)
    # --json on the group makes every --format default to json
    assert name in [row["name"] for row in cli("--json jobs list").json]

    info = cli(f"jobs describe {name} --format json").json
    assert info["state"] == "Completed" and info["hyperparameters"] == {"epochs": 5, "lr": 0.5}
    text = cli(f"jobs describe {name}").stdout
    assert re.search(r"^state\s+Completed$", text, re.M) and re.search(r"^billable_seconds\s+\d+s$", text, re.M)

    logs = cli(f"jobs logs {name}").stdout
    assert "epoch 0 loss" in logs and "epoch 4 loss" in logs

    r = cli(f"jobs wait {name}")
    assert r.code == 0 and f"{name} Completed on local" in r.stdout and "model: " in r.stdout
    assert cli(f"-q jobs wait {name}").stdout.strip() == trained["model_uri"]


def test_unknown_job_exits_1_without_a_traceback(cli):
    for args in ("jobs describe no-such-job", "jobs logs no-such-job", "jobs wait no-such-job", "jobs stop no-such-job"):
        r = cli(args)
        assert r.code == 1, args
        assert "no local job named 'no-such-job'" in r.stderr and "Traceback" not in r.stderr, args


def test_failed_job_exits_1_with_reason_and_log_tail(cli, tmp_path):
    job_yaml = write_job(tmp_path, f"entry_point: train.py\nsource_dir: {PROJECTS / 'failing'}\n")
    r = cli("train", str(job_yaml))
    assert r.code == 1
    assert "about to fail: bad data in row 7" in r.stdout, "the log streamed"
    assert "failed" in r.stderr and "exit code 3" in r.stderr and "bad data in row 7" in r.stderr
    assert "Traceback" not in r.stderr
    name = _submitted(r.stdout)
    r = cli(f"jobs wait {name}")
    assert r.code == 1 and "exit code 3" in r.stderr


def test_detach_then_follow_then_stop(cli, tmp_path):
    job_yaml = write_job(tmp_path, f"entry_point: train.py\nsource_dir: {PROJECTS / 'slow'}\n")
    r = cli("--json", "train", str(job_yaml), "--detach")
    assert r.code == 0, r.stderr
    detached = r.json
    name = detached["job"]
    assert detached["provider"] == "local" and detached["state"] in ("Pending", "Running")
    deadline = time.monotonic() + 60
    while "still working 2" not in cli(f"jobs logs {name}").stdout:
        assert time.monotonic() < deadline, "the detached job never ran"
        time.sleep(0.2)
    r = cli(f"jobs stop {name} --wait")
    assert r.code == 0 and "Stopped" in r.stdout, r.stdout + r.stderr
    assert cli(f"jobs describe {name} --format json").json["state"] == "Stopped"
    # logs -f of a finished job prints what there is and returns
    assert "still working 0" in cli(f"jobs logs -f {name}").stdout
    r = cli(f"jobs wait {name}")
    assert r.code == 1 and f"job {name} was stopped" in r.stderr
    r = cli(f"jobs stop {name}")
    assert r.code == 0 and "already ended: Stopped" in r.stdout


def test_quiet_train_prints_only_the_model_uri(cli, tmp_path):
    r = cli("-q", "train", str(regression_job(tmp_path)), "--set", "hyperparameters.epochs=2")
    assert r.code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("model.tar.gz") and Path(lines[0]).is_file()


def test_set_overrides_reach_the_job(cli, tmp_path):
    r = cli("--json", "train", str(regression_job(tmp_path)), "--set", "hyperparameters.epochs=3",
            "--set", "environment.MY_FLAG=on", "--set", "base_job_name=tuned")
    assert r.code == 0, r.stderr
    info = cli(f"jobs describe {r.json['job']} --format json").json
    assert info["name"].startswith("tuned-") and info["hyperparameters"]["epochs"] == 3
    assert "epoch 2 loss" in cli(f"jobs logs {info['name']}").stdout
    assert "epoch 3 loss" not in cli(f"jobs logs {info['name']}").stdout
