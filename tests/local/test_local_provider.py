"""What only the local provider does: cached requirement environments, torchrun on one machine, a detached
job that survives Ctrl-C and a dead supervisor, and a real HTTP endpoint on 127.0.0.1 with optional token."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from cloudml import Estimator
from cloudml.errors import EndpointError, JobFailedError
from cloudml.providers.base import EndpointState, JobState
from cloudml.spec import SourceCode
from tests.conformance.suite import PROJECTS, write_regression_data

REPO = Path(__file__).resolve().parents[2]


def make_wheel(folder: Path) -> Path:
    """A real (tiny) wheel, so installing it needs no network."""
    path = folder / "cloudml_testdep-0.1-py3-none-any.whl"
    files = {
        "cloudml_testdep/__init__.py": "VALUE = 42\n",
        "cloudml_testdep-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: cloudml-testdep\nVersion: 0.1\n",
        "cloudml_testdep-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "cloudml_testdep-0.1.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("cloudml_testdep-0.1.dist-info/RECORD", record)
    return path


def test_requirements_install_into_a_cached_env_not_the_users(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    src.mkdir()
    wheel = make_wheel(src)
    (src / "requirements.txt").write_text(f"./{wheel.name}\nnumpy\n")
    (src / "train.py").write_text("import cloudml_testdep, sys, numpy\nprint('dep value', cloudml_testdep.VALUE, sys.prefix)\n")
    root = tmp_path / "local"
    est = Estimator("train.py", src, provider="local", provider_options={"root": str(root), "venv_cache": str(root / "venvs")})
    est.fit()
    out = capsys.readouterr().out
    assert "dep value 42" in out
    prefix = out.split("dep value 42 ", 1)[1].splitlines()[0]
    assert prefix.startswith(str(root / "venvs")), "the script ran in the cached environment"
    import importlib.util

    assert importlib.util.find_spec("cloudml_testdep") is None, "the user's own environment is untouched"
    est.fit()
    assert "satisfied by cached environment" in capsys.readouterr().out, "the second run reuses it"


def test_two_processes_on_one_node_all_reduce(tmp_path: Path, capsys) -> None:
    est = Estimator("train.py", PROJECTS / "allreduce", provider="local", processes_per_node=2,
                    provider_options={"root": str(tmp_path / "local")})
    job = est.fit()
    out = capsys.readouterr().out
    assert "torch.distributed.run" in out and "--nproc_per_node=2" in out
    assert sorted(set(re.findall(r"rank ([01])/2 allreduce=3\.0", out))) == ["0", "1"]
    assert job.describe().extra["distribution"] == "ddp"


DRIVER = textwrap.dedent("""
    import sys
    from cloudml import Estimator
    est = Estimator("train.py", sys.argv[1], provider="local", provider_options={"root": sys.argv[2]})
    est.fit()
""")


def test_ctrl_c_while_waiting_leaves_the_job_running(tmp_path: Path) -> None:
    root = tmp_path / "local"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(PROJECTS / "slow"), str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the job's own output reaches the driver
        if "still working" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert "keeps running" in err and "Estimator.attach(" in err
    (name,) = os.listdir(root / "jobs")
    again = Estimator.attach(name, provider="local", provider_options={"root": str(root)})
    assert again.latest_job is not None and again.latest_job.state == JobState.RUNNING
    again.latest_job.stop()
    with pytest.raises(JobFailedError):
        again.latest_job.wait(timeout=60, logs=False)
    assert again.latest_job.state == JobState.STOPPED


def test_a_killed_supervisor_is_reported_as_failed(tmp_path: Path) -> None:
    est = Estimator("train.py", PROJECTS / "slow", provider="local", provider_options={"root": str(tmp_path / "l")})
    job = est.fit(wait=False)
    while job.state != JobState.RUNNING:
        time.sleep(0.05)
    pid = job.describe().extra["pid"]
    os.killpg(pid, signal.SIGKILL)
    with pytest.raises(JobFailedError, match="supervisor process died"):
        job.wait(timeout=30, logs=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Estimator:
    tmp = tmp_path_factory.mktemp("trained")
    est = Estimator("train.py", PROJECTS / "regression", provider="local", hyperparameters={"epochs": 30, "lr": 0.5},
                    provider_options={"root": str(tmp / "local")})
    est.fit({"training": str(write_regression_data(tmp / "data"))}, logs=False)
    return est


def test_endpoint_binds_loopback_and_requires_its_token(trained: Estimator) -> None:
    endpoint = trained.deploy(auth_token="s3cret-token-value")
    try:
        assert endpoint.url.startswith("http://127.0.0.1:")
        from cloudml.endpoints import Endpoint
        from cloudml.providers.local import LocalProvider

        with pytest.raises(EndpointError) as caught:  # a handle without the token is refused
            Endpoint(trained.provider, endpoint.name).predict({"instances": [[1.0]]})
        assert caught.value.status == 401
        # the handle deploy() returned sends the endpoint's token
        assert endpoint.predict({"instances": [[1.0]]})["predictions"][0][0] == pytest.approx(3.0, abs=0.05)

        authorised = Endpoint(LocalProvider(root=trained.provider.root, token="s3cret-token-value"), endpoint.name)
        assert authorised.predict({"instances": [[1.0]]})["predictions"][0][0] == pytest.approx(3.0, abs=0.05)
        log = (Path(trained.provider.root) / "endpoints" / endpoint.name / "server.log").read_text()
        assert "s3cret-token-value" not in log
    finally:
        endpoint.delete()


def test_endpoint_serves_numpy_and_reports_handler_errors(trained: Estimator) -> None:
    import numpy as np

    with trained.deploy() as endpoint:
        out = endpoint.predict(np.array([[0.0], [1.0]], dtype=np.float32), content_type="application/x-npy",
                               accept="application/x-npy")
        assert out.shape == (2, 1) and out[1, 0] == pytest.approx(3.0, abs=0.05)
        with pytest.raises(EndpointError) as caught:
            endpoint.predict({"instances": [[1.0, 2.0, 3.0]]})  # wrong width: a 4xx, the request is at fault
        assert caught.value.status == 400 and "RuntimeError" in str(caught.value)  # the input, not the server
        with pytest.raises(EndpointError) as caught:
            endpoint.predict(b"a,b", content_type="application/yaml")
        assert caught.value.status == 415


def test_endpoint_ttl_stops_the_server(trained: Estimator) -> None:
    endpoint = trained.deploy(ttl_seconds=1)
    try:
        deadline = time.monotonic() + 30
        while endpoint.describe().state == EndpointState.IN_SERVICE:
            assert time.monotonic() < deadline, "the endpoint outlived its ttl"
            time.sleep(0.2)
        assert endpoint.describe().state == EndpointState.FAILED
    finally:
        endpoint.delete()


def test_a_broken_inference_script_fails_deploy_and_leaves_nothing(trained: Estimator, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("")
    (src / "inference.py").write_text("raise ImportError('no such model library')\n")
    est = Estimator.attach(trained.latest_job.name, provider="local",
                           provider_options={"root": str(trained.provider.root)})
    est.spec = replace(est.spec, source=SourceCode("train.py", str(src)))
    with pytest.raises(EndpointError, match="no such model library"):
        est.deploy(endpoint_name="broken-endpoint")
    assert not (Path(trained.provider.root) / "endpoints" / "broken-endpoint").exists()
    assert est.provider.list_endpoints() == []
