"""Session-wide isolation: cloudml's caches and the local provider's root live in temporary folders.

No orphans (issue 10): at the end of the session the local root's endpoints and unfinished jobs are listed, and
together with what every rig found alive when its tests let go of it (``tests/rigs/ledger.py``: SageMaker after
each test, Azure ML after each test, Vertex when the last user is done) any remaining endpoint, model, config or
running job fails the session; the terminal summary prints the figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import _process_leaks
from tests.rigs import ledger

#: processes left running at the end of the session (tests/_process_leaks.py), filled by pytest_sessionfinish
_LEFT_PROCESSES: list[str] = []


def _local_leftovers(root: Path) -> dict[str, list[str]]:
    if not root.exists():
        return {}
    from cloudml.providers.local import LocalProvider

    local = LocalProvider(root=root)
    endpoints = [e.name for e in local.list_endpoints()]
    running = [j.name for j in local.list_jobs(limit=100_000) if not j.state.terminal]
    return {"endpoints": endpoints, "running jobs": running}


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
    ledger.record("local", _local_leftovers(base / "local"))
    os.environ["CLOUDML_TEST_SESSION_CACHE"] = str(base / "cache")   # read by pytest_sessionfinish
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


#: hostile-input probes (tests/hostile, issue 14): outcome -> count, and per provider for the probes run on each
_probes: dict[str, int] = {"held": 0, "broke": 0}
_probes_per_cloud: dict[str, int] = {}
_CLOUDS = ("local", "sagemaker", "vertex", "azureml")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith("tests/hostile/"):
        return
    if (report.when == "call" and report.passed) or (report.when == "setup" and report.skipped):
        if report.passed:
            _probes["held"] += 1
            param = report.nodeid.rsplit("[", 1)[-1].rstrip("]") if report.nodeid.endswith("]") else ""
            if param in _CLOUDS:
                _probes_per_cloud[param] = _probes_per_cloud.get(param, 0) + 1
    elif report.failed:
        _probes["broke"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    marker = os.environ.pop("CLOUDML_TEST_SESSION_CACHE", None)
    if marker:
        _LEFT_PROCESSES[:] = _process_leaks.settle(marker)
    if (ledger.leaks() or _LEFT_PROCESSES) and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    checks = ", ".join(f"{rig} {n}" for rig, n in sorted(ledger.checks.items())) or "none"
    leaks = ledger.leaks()
    per_rig: dict[str, int] = {}
    for (rig, _), n in ledger.faults.items():
        per_rig[rig] = per_rig.get(rig, 0) + n
    if per_rig:
        terminalreporter.write_line("faults injected by the rigs: " + ", ".join(
            f"{rig} {n}" for rig, n in sorted(per_rig.items())) + " (" + ", ".join(
            f"{rig}:{kind} x{n}" for (rig, kind), n in sorted(ledger.faults.items())) + ")")
    if _probes["held"] or _probes["broke"]:
        clouds = ", ".join(f"{c} {_probes_per_cloud[c]}" for c in _CLOUDS if c in _probes_per_cloud)
        terminalreporter.write_line(f"hostile-input probes (tests/hostile): {_probes['held']} held, "
                                    f"{_probes['broke']} broke" + (f" (run on each provider: {clouds})" if clouds
                                                                   else ""), red=bool(_probes["broke"]))
    terminalreporter.write_line(f"no-orphan checks ({checks}): {len(leaks)} resource(s) leaked"
                                + ("".join(f"\n  LEAKED {x}" for x in leaks)), red=bool(leaks))
    terminalreporter.write_line(f"processes left running: {len(_LEFT_PROCESSES)}"
                                + "".join(f"\n  LEFT {x}" for x in _LEFT_PROCESSES), red=bool(_LEFT_PROCESSES))


@pytest.fixture
def projects() -> Path:
    return Path(__file__).parent / "projects"
