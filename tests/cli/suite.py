"""Every CLI command against one provider's offline rig: what a user types, the output and exit codes they get.

A provider joins by adding ``tests/cli/test_cli_<provider>.py`` that provides the conformance suite's ``rig``
fixture (``tests.conformance.suite.Rig``) and declares ``class TestMyProviderCLI(CLIConformance): pass``.
The rig's options (which may hold objects: transports, endpoint maps) reach the CLI through the provider
registry: for the test, the provider's name maps to a subclass constructed with those options, so
``--provider <name>`` behaves exactly as it would with a configured account.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import PROJECTS, configured_provider, write_job
from tests.conformance.suite import Rig, write_regression_data


class CLIConformance:
    @pytest.fixture
    def provider(self, rig: Rig) -> Iterator[str]:
        """``rig.provider``, registered for the test as the provider class configured with the rig's options."""
        with configured_provider(rig.provider, rig.options) as name:
            yield name

    def _job(self, rig: Rig, folder: Path, project: str, data: bool = False, **extra: Any) -> Path:
        spec = rig.estimator(project).spec  # what the rig pins (instance type, a framework version ...)
        lines = ["entry_point: train.py", f"source_dir: {PROJECTS / project}", f"framework: {spec.framework}",
                 f"framework_version: '{spec.framework_version}'"]
        if spec.resources.instance_type:
            lines.append(f"instance_type: {spec.resources.instance_type}")
        if data:
            staged = rig.stage(write_regression_data(folder / "data"), "training")
            lines.append(f"inputs: {{training: '{staged}'}}")
        lines += [f"{k}: {v}" for k, v in extra.items()]
        return write_job(folder, "\n".join(lines) + "\n")

    def test_train_jobs_deploy_predict_delete(self, provider: str, rig: Rig, cli: Any, tmp_path: Path) -> None:
        job_yaml = self._job(rig, tmp_path, "regression", data=True, hyperparameters="{epochs: 40, lr: 0.5}")
        r = cli("train", str(job_yaml), "--provider", provider)
        assert r.code == 0, r.stdout + r.stderr
        name = re.search(r"submitted (\S+) on ", r.stdout).group(1)
        assert "epoch 39 loss" in r.stdout and f"{name} Completed on {provider}" in r.stdout
        model_uri = re.search(r"model: (\S+)", r.stdout).group(1)

        assert name in [j["name"] for j in cli("jobs", "list", "-p", provider, "--format", "json").json]
        info = cli("jobs", "describe", name, "-p", provider, "--format", "json").json
        assert info["state"] == "Completed" and info["model_uri"] == model_uri
        assert info["hyperparameters"] == {"epochs": 40, "lr": 0.5}
        assert "epoch 0 loss" in cli("jobs", "logs", name, "-p", provider).stdout
        r = cli("jobs", "wait", name, "-p", provider)
        assert r.code == 0 and f"{name} Completed" in r.stdout

        deploy = ["deploy", name, "-p", provider]
        if rig.deploy_instance_type:
            deploy += ["--instance-type", rig.deploy_instance_type]
        r = cli("--json", *deploy)
        assert r.code == 0, r.stderr
        endpoint = r.json["name"]
        try:
            assert r.json["state"] == "InService"
            assert endpoint in [e["name"] for e in cli("endpoints", "list", "-p", provider, "--format", "json").json]
            assert cli("endpoints", "describe", endpoint, "-p", provider, "--format", "json").json["state"] == "InService"
            r = cli("endpoints", "predict", endpoint, '{"instances": [[0.0], [1.0], [2.0]]}', "-p", provider)
            assert r.code == 0, r.stderr
            assert [row[0] for row in r.json["predictions"]] == pytest.approx([1.0, 3.0, 5.0], abs=0.05)
        finally:
            r = cli("endpoints", "delete", endpoint, "-p", provider)
        assert r.code == 0 and f"deleted {endpoint}" in r.stdout
        r = cli("endpoints", "describe", endpoint, "-p", provider)
        assert r.code == 2 and "Traceback" not in r.stderr
        assert cli("endpoints", "delete", endpoint, "-p", provider).code == 0, "deleting twice is fine"

    def test_failed_job_exits_1_with_reason_and_log_tail(self, provider: str, rig: Rig, cli: Any,
                                                         tmp_path: Path) -> None:
        r = cli("train", str(self._job(rig, tmp_path, "failing")), "-p", provider)
        assert r.code == 1
        assert "bad data in row 7" in r.stdout, "the log streamed"
        assert "failed" in r.stderr and "bad data in row 7" in r.stderr and "Traceback" not in r.stderr
        if rig.reports_exit_code:
            assert "exit code 3" in r.stderr
        name = re.search(r"submitted (\S+) on ", r.stdout).group(1)
        r = cli("--json", "jobs", "wait", name, "-p", provider)
        assert r.code == 1 and r.json["state"] == "Failed"

    def test_detach_follow_stop(self, provider: str, rig: Rig, cli: Any, tmp_path: Path) -> None:
        r = cli("--json", "train", str(self._job(rig, tmp_path, "slow")), "-p", provider, "--detach")
        assert r.code == 0, r.stderr
        name = r.json["job"]
        assert r.json["provider"] == provider and r.json["state"] in ("Pending", "Running")
        deadline = time.monotonic() + 120
        while "still working" not in cli("jobs", "logs", name, "-p", provider).stdout:
            assert time.monotonic() < deadline, "the detached job never ran"
            time.sleep(0.2)
        r = cli("jobs", "stop", name, "-p", provider, "--wait")
        assert r.code == 0 and "Stopped" in r.stdout, r.stdout + r.stderr
        assert cli("jobs", "describe", name, "-p", provider, "--format", "json").json["state"] == "Stopped"
        assert "still working" in cli("jobs", "logs", "-f", name, "-p", provider).stdout, "-f returns at the end"
        r = cli("jobs", "wait", name, "-p", provider)
        assert r.code == 1 and f"job {name} was stopped" in r.stderr
        r = cli("jobs", "stop", name, "-p", provider)
        assert r.code == 0 and "already ended: Stopped" in r.stdout

    def test_unknown_names_exit_2_without_a_traceback(self, provider: str, cli: Any) -> None:
        for args in (["jobs", "describe", "no-such-job-x"], ["jobs", "logs", "no-such-job-x"],
                     ["jobs", "wait", "no-such-job-x"], ["deploy", "no-such-job-x"],
                     ["endpoints", "describe", "no-such-endpoint-x"]):
            r = cli(*args, "-p", provider)
            assert r.code == 2, args
            assert r.stderr.startswith("Error: ") and "Traceback" not in r.stderr, args
