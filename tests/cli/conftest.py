"""Fixtures for the CLI tests: an isolated settings folder per test, a runner, and clean-up of local endpoints.

The local provider's root is the session one from tests/conftest.py (so its requirements environments are built
once); tests find their own jobs by name and never count a provider's jobs.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudml.cli import main
from tests.cli.helpers import Run


@pytest.fixture(autouse=True)
def _own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test starts with an empty settings file and no provider variables from the caller's shell."""
    folder = tmp_path / "settings"
    monkeypatch.setenv("CLOUDML_CONFIG_DIR", str(folder))
    monkeypatch.delenv("CLOUDML_DEFAULT_PROVIDER", raising=False)
    return folder


@pytest.fixture
def cli() -> Callable[..., Run]:
    """``cli("train", "job.yaml", "--dry-run")`` or ``cli("train job.yaml --dry-run")``: run in-process."""
    def run(*args: str, input: str | bytes | None = None) -> Run:
        argv = shlex.split(args[0]) if len(args) == 1 else list(args)
        result = CliRunner().invoke(main, argv, input=input)
        exc = result.exception if not isinstance(result.exception, SystemExit) else None
        return Run(result.exit_code, result.stdout, result.stderr, exc)
    return run


@pytest.fixture
def endpoints_to_delete() -> Iterator[list[str]]:
    """Names of local endpoints a test made; deleted at the end whatever happened."""
    names: list[str] = []
    yield names
    from cloudml import providers

    local = providers.get("local")
    for name in names:
        local.delete_endpoint(name)
