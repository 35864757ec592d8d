"""Snapshot files: ``assert_snapshot(name, data)`` compares JSON with ``snapshots/<name>.json``; a missing file (or
``CLOUDML_UPDATE_SNAPSHOTS=1``) writes it, so a changed request shows up as a diff in review."""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"


def assert_snapshot(name: str, data: object) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if not path.exists() or os.environ.get("CLOUDML_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if os.environ.get("CI"):
            raise AssertionError(f"snapshot {path} was missing in CI; it has been written, commit it")
        return
    assert json.loads(text) == json.loads(path.read_text()), f"request differs from {path}"
