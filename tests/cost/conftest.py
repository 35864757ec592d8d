"""Fixtures for the cost model: an isolated cache dir, no ambient override, and a small fixed catalog."""

from __future__ import annotations

import pytest
from cost_helpers import FIXED_ROWS

from cloudml.cost.catalog import build


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Every test gets its own user cache dir and no CLOUDML_CATALOG from the environment."""
    cache_home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("CLOUDML_CACHE_DIR", str(cache_home / "cloudml"))
    monkeypatch.delenv("CLOUDML_CATALOG", raising=False)
    return cache_home


@pytest.fixture
def fixed_catalog():
    return build([("fixture", FIXED_ROWS)])
