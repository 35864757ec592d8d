"""Conformance for the rigs themselves: what a job installs stays in its container. Mixed into each provider's
conformance class next to ``ProviderConformance`` (same ``rig`` fixture)."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

from cloudml import Estimator


def tiny_wheel(folder: Path, name: str = "rigprobe_pkg") -> Path:
    """A pure-Python wheel built by hand (no network, no build backend) holding ``name`` with ``VALUE = 42``."""
    dist = name.replace("_", "-")
    wheel = folder / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(f"{name}/__init__.py", "VALUE = 42\n")
        z.writestr(f"{name}-0.1.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        z.writestr(f"{name}-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                   "Tag: py3-none-any\n")
        z.writestr(f"{name}-0.1.dist-info/RECORD", "")
    return wheel


class RigIsolation:
    def test_requirements_never_reach_the_test_runners_environment(self, rig: Any, tmp_path: Path,
                                                                   capsys: Any) -> None:
        name = "rigprobe_" + rig.provider
        project = tmp_path / "withreqs"
        project.mkdir()
        wheel = tiny_wheel(project, name)
        (project / "requirements.txt").write_text(f"./{wheel.name}\n")
        (project / "train.py").write_text(f"import {name}\nprint('probe', {name}.VALUE, flush=True)\n")
        Estimator("train.py", project, provider=rig.provider, provider_options=rig.options,
                  instance_type=rig.instance_type).fit()
        assert "probe 42" in capsys.readouterr().out, "the job imported what its requirements.txt installed"
        assert importlib.util.find_spec(name) is None, "installed where the test runner imports from"
        assert not list(Path(sys.prefix).glob(f"lib/python*/site-packages/{name}*")), "installed into the runner"
