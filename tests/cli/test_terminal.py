"""Feedback on a terminal vs in scripts: progress bars and the live status line appear on a pseudo-terminal and
never in ``--json`` output or when stdout is a pipe. Also: what ``cloudml`` imports to start."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.cli.helpers import PROJECTS, REPO, write_job

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\r")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", COLUMNS="120", LINES="40",
                PYTHONUNBUFFERED="1")


def run_in_pty(args: list[str], timeout: float = 180) -> tuple[int, str, str]:
    """Run ``python -m cloudml ARGS`` with stdout on a pseudo-terminal; returns (code, terminal text, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cloudml", *args], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, env=_env(), cwd=REPO)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, b"".join(chunks).decode(errors="replace"), proc.stderr.read().decode()


def run_piped(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudml", *args], capture_output=True, text=True, env=_env(),
                          cwd=REPO, timeout=180)


@pytest.fixture
def fresh_job(tmp_path: Path) -> Path:
    """A job whose bundle the local provider has never stored (so submitting it copies, i.e. "uploads", it)."""
    from tests.conformance.suite import write_regression_data

    src = tmp_path / "src"
    shutil.copytree(PROJECTS / "regression", src)
    (src / "salt.txt").write_text(uuid.uuid4().hex)
    write_regression_data(tmp_path / "data")
    return write_job(tmp_path, "entry_point: train.py\nsource_dir: src\ninputs: {training: data/}\n"
                               "hyperparameters: {epochs: 30, lr: 0.5}\n")


def test_terminal_shows_upload_bar_status_line_and_summary(fresh_job):
    code, screen, err = run_in_pty(["train", str(fresh_job)])
    assert code == 0, screen + err
    text = ANSI.sub("", screen)
    assert re.search(r"uploading bundle [0-9a-f]{12}", text), text
    assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? kB", text), "bytes transferred / total"
    assert "so far" in text and re.search(r"(Pending|Running)\s+\d+s\s+~\$0\.00 so far", text), "the status line"
    assert "epoch 29 loss" in text and "Completed on local" in text and "model: " in text


def test_json_on_a_terminal_is_one_document_without_progress(fresh_job):
    code, screen, err = run_in_pty(["--json", "train", str(fresh_job)])
    assert code == 0, screen + err
    assert "uploading" not in screen and "so far" not in screen and "\x1b[" not in screen
    doc = json.loads(screen.replace("\r\n", "\n"))
    assert doc["state"] == "Completed" and doc["model_uri"].endswith("model.tar.gz")


def test_piped_output_has_logs_but_no_progress(fresh_job):
    result = run_piped(["train", str(fresh_job)])
    assert result.returncode == 0, result.stderr
    assert "epoch 29 loss" in result.stdout and "Completed on local" in result.stdout
    assert "uploading" not in result.stdout + result.stderr and "so far" not in result.stdout
    assert "\x1b[" not in result.stdout


HEAVY = ("boto3", "botocore", "google", "azure", "torch", "tensorflow", "sagemaker", "matplotlib", "numpy")


@pytest.mark.parametrize("args", [
    ["--help"], ["train", "--help"], ["jobs", "--help"], ["endpoints", "--help"], ["config", "show"],
    ["doctor"], ["init", "--help"],
])
def test_commands_start_without_heavy_imports(args, tmp_path):
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from cloudml.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        f"heavy = {HEAVY!r}\n"
        "new = set(sys.modules) - before\n"
        "print('LOADED:' + ','.join(sorted(m for m in new if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env(), cwd=REPO,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "LOADED:"


def test_ctrl_c_stops_following_not_the_job(tmp_path):
    import signal

    from cloudml import providers

    job_yaml = write_job(tmp_path, f"entry_point: train.py\nsource_dir: {PROJECTS / 'slow'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "cloudml", "train", str(job_yaml)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
    seen = ""
    deadline = time.monotonic() + 120
    while "still working 1" not in seen:
        assert time.monotonic() < deadline and proc.poll() is None, seen
        if select.select([proc.stdout], [], [], 0.5)[0]:
            seen += proc.stdout.readline()
    name = re.search(r"submitted (\S+) on local", seen).group(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"job {name} keeps running" in err and f"cloudml jobs wait {name}" in err and "Traceback" not in err
    local = providers.get("local")
    try:
        assert local.describe_job(name).state.value == "Running"
    finally:
        local.stop_job(name)
