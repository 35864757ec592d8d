"""Session-wide isolation: cloudml's caches and the local provider's root live in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cloudml_dirs(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("cloudml-home")
    keys = ("CLOUDML_CACHE_DIR", "CLOUDML_LOCAL_ROOT", "CLOUDML_CONFIG_DIR", "CLOUDML_VENV_CACHE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["CLOUDML_CACHE_DIR"] = str(base / "cache")
    os.environ["CLOUDML_LOCAL_ROOT"] = str(base / "local")
    os.environ["CLOUDML_CONFIG_DIR"] = str(base / "config")
    # one cached requirements environment per session, whichever local root a test uses
    os.environ["CLOUDML_VENV_CACHE"] = str(base / "venvs")
    yield base
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def projects() -> Path:
    return Path(__file__).parent / "projects"
