"""``cloudml jobs outputs JOB DEST`` fetches a local job's ./outputs, ./logs and output data dir."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cloudml import Estimator
from cloudml.cli import main


def test_jobs_outputs_downloads_outputs_logs_and_output_data(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(
        "import os\n"
        "open('outputs/report.txt', 'w').write('done')\n"
        "open('logs/run.log', 'w').write('epoch 1')\n"
        "open(os.path.join(os.environ['SM_OUTPUT_DATA_DIR'], 'metrics.json'), 'w').write('{}')\n"
        "open(os.path.join(os.environ['SM_MODEL_DIR'], 'm.txt'), 'w').write('m')\n")
    root = tmp_path / "root"
    job = Estimator("train.py", src, provider="local", provider_options={"root": str(root)}).fit(logs=False)
    result = CliRunner().invoke(main, ["--json", "jobs", "outputs", job.name, str(tmp_path / "dest"),
                                       "-p", "local", "-C", f"root={root}"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["files"] == ["logs/run.log", "metrics.json", "outputs/report.txt"]
    assert (tmp_path / "dest" / "outputs" / "report.txt").read_text() == "done"


def test_jobs_outputs_of_an_unknown_job_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["jobs", "outputs", "no-such-job", str(tmp_path / "d"), "-p", "local",
                                       "-C", f"root={tmp_path}"])
    assert result.exit_code != 0 and "no-such-job" in result.output
    assert not (tmp_path / "d").exists()
