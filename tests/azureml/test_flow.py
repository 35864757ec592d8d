"""fit -> wait -> deploy -> predict -> delete through AzureMLProvider against Azurite + the fake Azure ML."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cloudml import packaging
from cloudml.providers.base import JobState
from cloudml.spec import DeploySpec, Resources, SourceCode, TrainingSpec, make_job_name

PROJECT = Path(__file__).parent / "projects" / "linear"


def wait(provider, name, timeout=120):
    cursor, lines = None, []
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = provider.describe_job(name)
        new, cursor = provider.read_logs(name, cursor)
        lines += new
        if info.state.terminal:
            new, cursor = provider.read_logs(name, cursor)
            return info, lines + new
        time.sleep(0.3)
    raise AssertionError(f"job {name} did not finish: {info}")


def spec_for(tmp_path, **kw):
    data = tmp_path / "train"
    data.mkdir(exist_ok=True)
    (data / "x.txt").write_text("0\n1\n2\n3\n")
    base = dict(source=SourceCode("train.py", str(PROJECT)), framework="pytorch", framework_version="2.5",
                resources=Resources(instance_type="Standard_D2s_v3"), channels={"train": str(data)},
                hyperparameters={"epochs": 150}, job_name=make_job_name("az"))
    base.update(kw)
    return TrainingSpec(**base)


def test_fit_deploy_predict_delete(provider, fake_aml, tmp_path):
    spec = spec_for(tmp_path)
    spec.validate(provider.storage_schemes)
    provider.validate(spec)
    bundle = packaging.build(PROJECT, tmp_path / "b", entry_point="train.py")
    info = provider.submit(spec, bundle)
    assert info.name == spec.job_name
    info, lines = wait(provider, spec.job_name)
    assert info.state == JobState.COMPLETED, (info, lines)
    assert any("final loss" in line for line in lines)
    assert info.model_uri.endswith(f"/{spec.job_name}/model/")
    assert info.framework == "pytorch" and info.hyperparameters == {"epochs": 150}
    ep = provider.deploy(DeploySpec(model_uri=info.model_uri, source=SourceCode("inference.py", str(PROJECT)),
                                    framework="pytorch", framework_version="2.5", instance_type="Standard_DS3_v2",
                                    endpoint_name="ep-" + spec.job_name[-6:]))
    out = json.loads(provider.invoke(ep.name, json.dumps({"instances": [[1.0], [2.0]]}).encode()))
    assert [p[0] for p in out["predictions"]] == pytest.approx([3.0, 5.0], abs=0.05)
    provider.delete_endpoint(ep.name)
    assert fake_aml.live("onlineEndpoints") == []
    assert fake_aml.live("models") == []
