"""Helpers shared by the CLI tests."""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    keys = {"entry_point": "train.py", "source_dir": str(PROJECTS / "regression"), "inputs": "{training: data/}",
            "hyperparameters": "{epochs: 5, lr: 0.5}", **extra}
    return write_job(tmp_path, "".join(f"{k}: {v}\n" for k, v in keys.items()))


@contextlib.contextmanager
def configured_provider(name: str, options: Mapping[str, Any]) -> Iterator[str]:
    """For the duration of the block, provider ``name`` is its class constructed with ``options`` (which may hold
    objects the command line cannot carry: transports, endpoint maps), so ``--provider name`` reaches a rig
    exactly as it would reach a configured account. Uses the public registry API; restores the entry after."""
    from cloudml import providers

    base = providers.get_class(name)
    fixed = dict(options)

    def __init__(self: Any, **given: Any) -> None:
        base.__init__(self, **{**fixed, **given})

    configured = type(base.__name__, (base,), {"__init__": __init__, "__module__": base.__module__})
    saved = providers.registry[name]
    providers.register_provider(name, configured, clobber=True)
    try:
        yield name
    finally:
        providers.register_provider(name, saved, clobber=True)
