"""Bad input and missing settings are refused before any request, naming the field; constructors do no I/O."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudml import packaging
from cloudml.errors import ConfigurationError, UnsupportedFeatureError, ValidationError
from cloudml.providers.azureml import AzureMLProvider
from cloudml.spec import DeploySpec, Resources, SourceCode, TrainingSpec, make_job_name

PROJECT = Path(__file__).parent / "projects" / "linear"
CONFIG = {"subscription_id": "sub", "resource_group": "rg", "workspace": "ws", "compute": "cpu-cluster"}


def spec(**kw):
    base = dict(source=SourceCode("train.py", str(PROJECT)), framework="pytorch", framework_version="2.5",
                resources=Resources(instance_type="Standard_D2s_v3"), job_name=make_job_name("v"))
    base.update(kw)
    return TrainingSpec(**base)


def test_import_cloudml_and_the_provider_module_load_no_azure_sdk():
    code = ("import sys, cloudml, cloudml.providers as p; p.get_class('azureml'); "
            "p.get('azureml', subscription_id='s', resource_group='r', workspace='w'); "
            "print(sorted(m for m in sys.modules if m.startswith('azure')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2]).stdout
    assert out.strip() == "[]"


def test_unknown_option_is_refused():
    with pytest.raises(ValidationError) as caught:
        AzureMLProvider(workspace_name="ws")
    assert caught.value.field == "provider_options" and "workspace_name" in str(caught.value)


def test_missing_settings_say_what_to_set(monkeypatch):
    for var in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME", "CLOUDML_AZUREML_WORKSPACE",
                "CLOUDML_AZUREML_SUBSCRIPTION_ID", "CLOUDML_AZUREML_RESOURCE_GROUP", "AZUREML_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="workspace.*AZUREML_WORKSPACE_NAME"):
        AzureMLProvider(subscription_id="s", resource_group="r").validate(spec())
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", "from-env")
    assert AzureMLProvider(subscription_id="s", resource_group="r").options["workspace"] == "from-env"


@pytest.mark.parametrize("kw, options, field", [
    ({"environment": None}, {"environment": "azureml://registries/azureml/environments/acpt-pytorch-2.2-cuda12.1/labels/latest"},
     "provider_options.environment"),
    ({}, {"environment": "mcr.microsoft.com/azureml/openmpi5.0-cuda12.4-ubuntu22.04:latest"}, "provider_options.environment"),
    ({"resources": Resources(instance_type="Standard_D2s_v3", accelerator="A100:1")}, {}, "resources.instance_type"),
    ({"resources": Resources(instance_type="m5.xlarge")}, {}, "resources.instance_type"),
    ({}, {"compute": "9 bad name"}, "provider_options.compute"),
    ({"resources": Resources(), "instance_count": 1}, {"compute": None}, "resources.instance_type"),
    ({"framework": "tensorflow", "framework_version": "2.16", "processes_per_node": 2, "instance_count": 1}, {},
     "processes_per_node"),
    ({"hyperparameters": {"data": "${{inputs.missing}}"}}, {}, "hyperparameters['data']"),
    ({"channels": {"train": "https://example.com/data/"}}, {}, "channels['train']"),
    ({"checkpoint_uri": "/tmp"}, {}, "checkpoint_uri"),
    ({"output_uri": "https://acct.blob.core.windows.net/c/out/"}, {}, "output_uri"),
])
def test_bad_input_names_the_field(kw, options, field):
    kw = {k: v for k, v in kw.items() if v is not None}
    provider = AzureMLProvider(**{**CONFIG, **options})
    with pytest.raises(ValidationError) as caught:
        provider.validate(spec(**kw))
    assert caught.value.field == field, caught.value


def test_instance_count_zero_is_refused_by_the_spec():
    with pytest.raises(ValidationError) as caught:
        spec(instance_count=0)
    assert caught.value.field == "instance_count"


def test_capabilities_refused_with_the_reason():
    provider = AzureMLProvider(**CONFIG)
    with pytest.raises(UnsupportedFeatureError, match="multi_worker_mirrored"):
        provider.check_features(spec(framework="tensorflow", framework_version="2.16", instance_count=2,
                                     distribution="parameter_server"))
    with pytest.raises(UnsupportedFeatureError, match="Azure Monitor"):
        provider.check_features(DeploySpec(model_uri="azureml://datastores/d/paths/m/", min_replicas=1, max_replicas=3))
    with pytest.raises(UnsupportedFeatureError, match="TPU"):
        provider.check_features(spec(resources=Resources(instance_type="Standard_D2s_v3", accelerator="tpu-v5e:4")))


# -- refusals that need the workspace: checked by reads, before anything is created ----------------------------
def test_unknown_compute_is_refused_before_anything_is_created(provider_options, fake_aml, tmp_path):
    from cloudml.providers.azureml import AzureMLProvider as P

    provider = P(**{**provider_options, "compute": "no-such-cluster"})
    bundle = packaging.build(PROJECT, tmp_path, entry_point="train.py")
    with pytest.raises(ValidationError) as caught:
        provider.submit(spec(), bundle)
    assert caught.value.field == "provider_options.compute"
    assert "cpu-cluster" in str(caught.value) and "gpu-cluster" in str(caught.value)
    assert [m for m, *_ in fake_aml.requests if m != "GET"] == [], "nothing may be created"


def test_spot_on_a_dedicated_cluster_and_a_size_mismatch_are_refused(provider, fake_aml, tmp_path):
    bundle = packaging.build(PROJECT, tmp_path, entry_point="train.py")
    with pytest.raises(ValidationError) as caught:
        provider.submit(spec(resources=Resources(instance_type="Standard_D2s_v3", spot=True)), bundle)
    assert caught.value.field == "resources.spot"
    with pytest.raises(ValidationError) as caught:
        provider.submit(spec(resources=Resources(instance_type="Standard_D4s_v3")), bundle)
    assert caught.value.field == "resources.instance_type" and "STANDARD_D2S_V3" in str(caught.value)
    assert [m for m, *_ in fake_aml.requests if m != "GET"] == []


def test_gpu_environment_on_the_cpu_cluster_is_refused(provider_options, fake_aml, tmp_path):
    provider = AzureMLProvider(**{**provider_options, "environment": "azureml:AzureML-acpt-pytorch-2.2-cuda12.1@latest"})
    with pytest.raises(ValidationError) as caught:
        provider.validate(spec())
    assert caught.value.field == "provider_options.environment" and "Standard_D2s_v3 has no GPU" in str(caught.value)
    assert fake_aml.requests == []
