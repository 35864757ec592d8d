"""Faults on the Azure rig: resets retried by azure-core, expired credentials reported, spot via a low-priority
cluster, network-isolation options reaching the endpoint and deployment bodies."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudml import packaging
from cloudml.errors import CredentialsError
from cloudml.providers.azureml import AzureMLProvider
from cloudml.spec import DeploySpec, Resources, SourceCode, TrainingSpec, make_job_name

PROJECTS = Path(__file__).parent / "projects"


def spec(**kw):
    base = dict(source=SourceCode("train.py", str(PROJECTS / "linear")), framework="pytorch", framework_version="2.5",
                resources=Resources(instance_type="Standard_D2s_v3"), job_name=make_job_name("fault"))
    base.update(kw)
    return TrainingSpec(**base)


def test_connection_resets_are_retried(provider, fake_aml, tmp_path):
    bundle = packaging.build(PROJECTS / "linear", tmp_path, entry_point="train.py")
    s = spec()
    fake_aml.fail_next[("PUT", r"/jobs/")] = [0]
    fake_aml.fail_next[("GET", r"/computes/")] = [0, 503]
    provider.submit(s, bundle)
    assert fake_aml.live("jobs") == [s.job_name]
    assert provider.describe_job(s.job_name).name == s.job_name


def test_expired_credentials_are_reported_without_the_token(provider, fake_aml):
    fake_aml.fail_next[("GET", r"/jobs/")] = [401]
    with pytest.raises(CredentialsError) as caught:
        provider.describe_job("any-job")
    text = str(caught.value)
    assert "az login" in text and "ExpiredAuthenticationToken" in text
    assert "cloudml-rig-token" not in text


def test_spot_runs_on_a_low_priority_cluster(provider_options, fake_aml, tmp_path):
    provider = AzureMLProvider(**{**provider_options, "compute": "spot-cluster"})
    s = spec(resources=Resources(instance_type="Standard_D2s_v3", spot=True))
    info = provider.submit(s, packaging.build(PROJECTS / "linear", tmp_path, entry_point="train.py"))
    props = fake_aml.job(s.job_name)["properties"]
    assert props["computeId"].endswith("/computes/spot-cluster") and not props.get("queueSettings")
    assert info.spot


def test_network_isolation_options_reach_the_endpoint_and_deployment(provider_options, fake_aml, tmp_path):
    torch = pytest.importorskip("torch")
    model = tmp_path / "model"
    model.mkdir()
    torch.jit.script(torch.nn.Linear(1, 1)).save(str(model / "model.pt"))
    provider = AzureMLProvider(**{**provider_options, "public_network_access": "disabled",
                                  "egress_public_network_access": "disabled", "tags": "cost-center=42"})
    info = provider.deploy(DeploySpec(model_uri=str(model), framework="pytorch", framework_version="2.5",
                                      endpoint_name="private-ep", ttl_seconds=3600))
    try:
        ep = [b for m, p, _, b in fake_aml.requests if m == "PUT" and p.endswith("/onlineEndpoints/private-ep")][0]
        dep = [b for m, p, _, b in fake_aml.requests if m == "PUT" and p.endswith("/deployments/cloudml")][0]
        assert ep["properties"]["publicNetworkAccess"].lower() == "disabled"
        assert dep["properties"]["egressPublicNetworkAccess"].lower() == "disabled"
        assert ep["tags"]["cost-center"] == "42" and dep["tags"]["cloudml-endpoint"] == "private-ep"
        assert ep["tags"]["cloudml-expires"] > ep["tags"]["cloudml-created"], "ttl_seconds -> cloudml-expires"
        assert info.instance_type == "Standard_DS3_v2", "the documented default serving size"
    finally:
        provider.delete_endpoint(info.name)
