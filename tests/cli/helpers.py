"""Helpers shared by the CLI tests."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECTS = REPO / "tests" / "projects"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def json(self) -> object:
        return json.loads(self.stdout)


def write_job(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def regression_job(tmp_path: Path, **extra: str) -> Path:
    """A job YAML over tests/projects/regression with its data in tmp_path/data."""
    from tests.conformance.suite import write_regression_data

    write_regression_data(tmp_path / "data")
    lines = ["entry_point: train.py", f"source_dir: {PROJECTS / 'regression'}", "inputs: {training: data/}",
             "hyperparameters: {epochs: 5, lr: 0.5}"] + [f"{k}: {v}" for k, v in extra.items()]
    return write_job(tmp_path, "\n".join(lines) + "\n")
