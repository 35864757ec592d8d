"""The CLI end to end on the local provider: real training processes, a real HTTP endpoint, real exit codes."""

from __future__ import annotations

import json
import re
import tarfile
import time
from pathlib import Path

import pytest

from tests.cli.helpers import PROJECTS, regression_job, write_job


def _serving(pid: int, name: str) -> bool:
    """Whether process ``pid`` is still the (non-zombie) model server of endpoint ``name``. Checked through /proc
    rather than by connecting: on a shared machine another process may take the freed port at once."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return name in cmdline and state != "Z"


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
    assert _serving(endpoint["extra"]["pid"], endpoint["name"])

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
    assert not _serving(endpoint["extra"]["pid"], endpoint["name"]), "the server process is gone"
    assert endpoint["name"] not in [e["name"] for e in cli("endpoints list --format json").json]
    r = cli("endpoints", "predict", endpoint["name"], '{"instances": [[0.5, -0.5]]}')
    assert r.code == 2 and "no local endpoint" in r.stderr and "Traceback" not in r.stderr + r.stdout


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


def test_quiet_train_with_overrides_prints_only_the_model_uri(cli, tmp_path):
    r = cli("-q", "train", str(regression_job(tmp_path)), "--set", "hyperparameters.epochs=3",
            "--set", "environment.MY_FLAG=on", "--set", "base_job_name=tuned")
    assert r.code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("model.tar.gz") and Path(lines[0]).is_file()
    name = next(j["name"] for j in cli("jobs list --format json").json if j["model_uri"] == lines[0])
    info = cli(f"jobs describe {name} --format json").json
    assert info["name"].startswith("tuned-") and info["hyperparameters"]["epochs"] == 3
    logs = cli(f"jobs logs {name}").stdout
    assert "epoch 2 loss" in logs and "epoch 3 loss" not in logs


def test_deploy_options_and_predict_inputs(cli, trained, tmp_path, endpoints_to_delete):
    job_yaml = tmp_path / "job.yaml"
    job_yaml.write_text(f"entry_point: train.py\nsource_dir: {PROJECTS / 'regression'}\n"
                        "deploy: {ttl_seconds: 900, environment: {FROM_FILE: '1'}}\n")
    name = f"cli-ep-{int(time.time()) % 100000}"
    endpoints_to_delete.append(name)
    r = cli("-q", "deploy", trained["job"], "--file", str(job_yaml), "--name", name, "--env", "EXTRA=2")
    assert r.code == 0, r.stderr
    assert r.stdout.strip() == name

    described = cli(f"endpoints describe {name} --format json").json
    assert described["state"] == "InService" and described["model_uri"] == trained["model_uri"]
    assert "InService" in cli(f"endpoints describe {name}").stdout

    body = tmp_path / "request.json"
    body.write_text('{"instances": [[1.0], [0.0]]}')
    from_file = cli("endpoints", "predict", name, "--file", str(body)).json
    from_stdin = cli("endpoints", "predict", name, "--file", "-", input=body.read_text()).json
    assert from_file == from_stdin and len(from_file["predictions"]) == 2
    # regression data is y = 2x + 1: the model learned roughly that in 5 epochs
    assert from_file["predictions"][0][0] > from_file["predictions"][1][0]

    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.array([[1.0], [0.0]], dtype=np.float32))
    npy = tmp_path / "request.npy"
    npy.write_bytes(buf.getvalue())
    r = cli("endpoints", "predict", name, "-f", str(npy), "--content-type", "application/x-npy")
    assert r.code == 0
    assert [y for (y,) in r.json["predictions"]] == pytest.approx([y for (y,) in from_file["predictions"]], abs=1e-5)

    for args, needle in (([name, "{not json"], "not valid JSON"), ([name], "give the request body"),
                         ([name, "{}", "--file", str(body)], "not both")):
        r = cli("endpoints", "predict", *args)
        assert r.code == 2 and needle in r.stderr, args

    assert cli("--json", "endpoints", "delete", name).json == {"deleted": [name], "not_found": []}
    assert cli("endpoints", "delete", name).code == 0, "deleting twice is fine"
    r = cli(f"endpoints describe {name}")
    assert r.code == 2 and "no local endpoint" in r.stderr


def test_deploy_of_an_unfinished_or_unknown_job_fails_clearly(cli, tmp_path):
    r = cli("deploy", "no-such-job")
    assert r.code == 2 and "no local job named 'no-such-job'" in r.stderr
    job_yaml = write_job(tmp_path, f"entry_point: train.py\nsource_dir: {PROJECTS / 'failing'}\n")
    r = cli("--json", "train", str(job_yaml))
    assert r.code == 1 and "exit code 3" in r.stderr
    failed = r.json  # the summary document still comes out under --json
    assert failed["state"] == "Failed" and failed["exit_code"] == 3 and failed["model_uri"] is None
    r = cli("deploy", failed["job"])
    assert r.code == 2 and "not Completed" in r.stderr
