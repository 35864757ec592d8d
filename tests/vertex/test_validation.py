"""Everything refused before any request: impossible machines, versions without images, missing settings.
The provider here points at a port nobody listens on, so any network call would fail loudly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cloudml.errors import ConfigurationError, UnsupportedFeatureError, ValidationError
from cloudml.providers import get
from cloudml.providers._vertex_machines import choose_machine
from cloudml.spec import Resources, SourceCode, TrainingSpec
from tests.rigs.gcs import free_port

OFFLINE = dict(project="p", location="us-central1", staging_bucket="gs://b",
               api_endpoint=f"http://127.0.0.1:{free_port()}", credentials="anonymous", timeout=1)


def spec(resources: Resources, framework: str = "pytorch", version: str = "2.4", **kw) -> TrainingSpec:
    return TrainingSpec(source=SourceCode("train.py", "."), framework=framework, framework_version=version,
                        resources=resources, job_name="j", **kw)


@pytest.mark.parametrize("instance_type,accelerator,machine,acc_type,count,topology", [
    (None, "A100:1", "a2-highgpu-1g", "NVIDIA_TESLA_A100", 1, None),
    (None, "A100:8", "a2-highgpu-8g", "NVIDIA_TESLA_A100", 8, None),
    (None, "A100-80GB:4", "a2-ultragpu-4g", "NVIDIA_A100_80GB", 4, None),
    (None, "H100:8", "a3-highgpu-8g", "NVIDIA_H100_80GB", 8, None),
    (None, "L4:1", "g2-standard-4", "NVIDIA_L4", 1, None),
    (None, "L4:4", "g2-standard-48", "NVIDIA_L4", 4, None),
    (None, "T4:2", "n1-standard-16", "NVIDIA_TESLA_T4", 2, None),
    (None, "V100:8", "n1-standard-64", "NVIDIA_TESLA_V100", 8, None),
    (None, "tpu-v5e:4", "ct5lp-hightpu-4t", None, 4, "2x2"),
    (None, "tpu-v5e:8", "ct5lp-hightpu-8t", None, 8, "2x4"),
    (None, "TPU-V3:8", "cloud-tpu", "TPU_V3", 8, None),
    (None, "TPU-V3:4", "cloud-tpu", "TPU_V3", 8, None),
    ("cloud-tpu", "TPU-V2:4", "cloud-tpu", "TPU_V2", 8, None),
    (None, "TPU-V4:4", "ct4p-hightpu-4t", None, 4, "2x2x1"),
    ("ct6e-standard-8t", "TPU-V6E:8", "ct6e-standard-8t", None, 8, "2x4"),
    ("a2-highgpu-2g", None, "a2-highgpu-2g", "NVIDIA_TESLA_A100", 2, None),
    ("a2-highgpu-4g", "A100:4", "a2-highgpu-4g", "NVIDIA_TESLA_A100", 4, None),
    ("g2-standard-24", None, "g2-standard-24", "NVIDIA_L4", 2, None),
    ("n1-highmem-8", "T4:1", "n1-highmem-8", "NVIDIA_TESLA_T4", 1, None),
    ("ct5lp-hightpu-1t", None, "ct5lp-hightpu-1t", None, 1, "1x1"),
    ("e2-standard-8", None, "e2-standard-8", None, 0, None),
])
def test_machine_choices(instance_type, accelerator, machine, acc_type, count, topology):
    m = choose_machine(instance_type, accelerator)
    assert (m.machine_type, m.accelerator_type, m.accelerator_count, m.tpu_topology) == (
        machine, acc_type, count, topology)


@pytest.mark.parametrize("instance_type,accelerator,field,words", [
    ("a2-highgpu-4g", "A100:3", "resources.accelerator", "a2-highgpu-4g comes with 4 x A100"),
    (None, "A100:3", "resources.accelerator", "no machine with 3 x A100"),
    (None, "T4:8", "resources.accelerator", "no machine with 8 x T4"),
    ("n1-standard-8", "A100:1", "resources.accelerator", "n1-standard-8 cannot take 1 x A100"),
    ("e2-standard-8", "T4:1", "resources.accelerator", "takes no accelerators"),
    ("cloud-tpu", None, "resources.accelerator", "cloud-tpu needs TPU-V2:4 or TPU-V3:4"),
    ("ct5lp-hightpu-4t", "tpu-v5e:8", "resources.accelerator", "has 4 x TPU-V5E, not 8 x TPU-V5E"),
    ("ml.p3.2xlarge", None, "resources.instance_type", "not a Vertex AI machine type"),
    (None, None, "resources.instance_type", "no instance type and no accelerator"),
])
def test_impossible_combinations_list_valid_options(instance_type, accelerator, field, words):
    with pytest.raises(ValidationError) as err:
        choose_machine(instance_type, accelerator)
    assert err.value.field == field
    assert words in str(err.value)
    if accelerator or instance_type != "ml.p3.2xlarge":
        assert "valid on Vertex AI" in str(err.value) or "n1-standard-4" in str(err.value)


def test_every_vertex_offer_in_the_price_catalog_is_a_machine_cloudml_can_request():
    from cloudml.cost.catalog import load_catalog

    offers = [o for o in load_catalog().rows if o.provider == "vertex"]
    assert offers
    for offer in offers:
        acc = f"{offer.accelerator}:{offer.accelerator_count}" if offer.accelerator else None
        machine = choose_machine(offer.instance_type, acc)
        assert machine.machine_type == offer.instance_type


def test_tpu_with_pytorch_gpu_only_version_is_refused_listing_versions():
    provider = get("vertex", **OFFLINE)
    with pytest.raises(ValidationError) as err:
        provider.validate(spec(Resources(accelerator="tpu-v5e:4"), version="2.4"))
    msg = str(err.value)
    assert "no prebuilt TPU training image for pytorch 2.4" in msg and "2.0, 2.1, 2.2" in msg


def test_version_without_image_lists_supported_versions():
    provider = get("vertex", **OFFLINE)
    with pytest.raises(ValidationError) as err:
        provider.validate(spec(Resources(instance_type="n1-standard-4"), version="2.5"))
    assert err.value.field == "framework_version"
    assert "1.13, 2.0, 2.1, 2.2, 2.3, 2.4" in str(err.value)
    with pytest.raises(ValidationError, match="2.12, 2.13, 2.14, 2.15, 2.16, 2.17"):
        provider.validate(spec(Resources(instance_type="n1-standard-4"), framework="tensorflow", version="2.19"))


def test_tpu_machine_with_a_pytorch_gpu_image_is_refused():
    provider = get("vertex", **OFFLINE, image_uri="us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310:latest")
    with pytest.raises(ValidationError) as err:
        provider.validate(spec(Resources(accelerator="tpu-v5e:4")))
    assert err.value.field == "image_uri" and "GPU image but ct5lp-hightpu-4t is a TPU machine" in str(err.value)
    provider.validate(spec(Resources(accelerator="A100:1")))


def test_image_uri_option_overrides_the_table():
    provider = get("vertex", **OFFLINE, image_uri="us-docker.pkg.dev/me/train:latest")
    provider.validate(spec(Resources(instance_type="n1-standard-4"), version="2.13"))


def test_missing_settings_name_what_to_set(monkeypatch):
    for var in ("CLOUDML_VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "CLOUDML_VERTEX_LOCATION",
                "GOOGLE_CLOUD_REGION", "CLOUD_ML_REGION", "CLOUDML_VERTEX_STAGING_BUCKET"):
        monkeypatch.delenv(var, raising=False)
    provider = get("vertex")
    with pytest.raises(ConfigurationError) as err:
        provider.validate(spec(Resources(instance_type="n1-standard-4")))
    for word in ("project", "location", "staging_bucket", "CLOUDML_VERTEX_PROJECT"):
        assert word in str(err.value)


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "envproj")
    monkeypatch.setenv("CLOUDML_VERTEX_LOCATION", "europe-west4")
    monkeypatch.setenv("CLOUDML_VERTEX_STAGING_BUCKET", "gs://envbucket/some/prefix")
    provider = get("vertex")
    assert (provider.project, provider.location, provider.bucket, provider.prefix) == (
        "envproj", "europe-west4", "envbucket", "some/prefix/cloudml")
    provider.validate(spec(Resources(instance_type="n1-standard-4")))


def test_unknown_option_is_refused():
    with pytest.raises(ValidationError, match="unknown Vertex option"):
        get("vertex", projct="typo")


def test_parameter_server_is_refused():
    provider = get("vertex", **OFFLINE)
    ps = spec(Resources(instance_type="n1-standard-4"), framework="tensorflow", version="2.16", instance_count=2,
              distribution="parameter_server")
    with pytest.raises(UnsupportedFeatureError, match="parameter-server"):
        provider.check_features(ps)


def test_channels_must_be_gs_or_local(tmp_path):
    (tmp_path / "x.py").write_text("")
    provider = get("vertex", **OFFLINE)
    s = TrainingSpec(source=SourceCode("x.py", str(tmp_path)), framework_version="2.4", channels={"train": "s3://b/k"},
                     resources=Resources(instance_type="n1-standard-4"))
    with pytest.raises(ValidationError, match="gs://"):
        s.validate(provider.storage_schemes)


def test_import_cloudml_loads_no_google_sdk():
    code = ("import sys, cloudml, cloudml.providers; cloudml.providers.get_class; "
            "print([m for m in sys.modules if m.startswith(('google.cloud.', 'google.api_core', 'google.auth'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_outputs_and_checkpoints_must_be_in_cloud_storage():
    provider = get("vertex", **OFFLINE)
    with pytest.raises(ValidationError) as err:
        provider.validate(spec(Resources(instance_type="n1-standard-4"), output_uri="/tmp/out"))
    assert err.value.field == "output_uri"
    with pytest.raises(ValidationError) as err:
        provider.validate(spec(Resources(instance_type="n1-standard-4"), checkpoint_uri="ckpt/"))
    assert err.value.field == "checkpoint_uri"


@pytest.mark.parametrize("options,field", [
    ({"timeout": "soon"}, "provider_options['timeout']"),
    ({"timeout": -1}, "provider_options['timeout']"),
    ({"poll_interval": (1, 2, 3)}, "provider_options['poll_interval']"),
    ({"labels": {"team": 1}}, "provider_options['labels']"),
])
def test_bad_option_values_are_refused_in_the_constructor(options, field):
    with pytest.raises(ValidationError) as err:
        get("vertex", **{**OFFLINE, **options})
    assert err.value.field == field


def test_bad_location_and_foreign_region_are_refused():
    with pytest.raises(ConfigurationError, match="not a region name"):
        get("vertex", **{**OFFLINE, "location": "US Central"}).validate(spec(Resources(instance_type="n1-standard-4")))
    with pytest.raises(ValidationError) as err:
        get("vertex", **OFFLINE).validate(spec(Resources(instance_type="a3-highgpu-8g", region="us-east4")))
    assert err.value.field == "resources.region" and "location='us-east4'" in str(err.value)


def test_bearer_token_endpoints_are_refused_before_any_request():
    from cloudml.spec import DeploySpec

    provider = get("vertex", **OFFLINE)
    with pytest.raises(ValidationError) as err:
        provider.deploy(DeploySpec(model_uri="gs://b/m/", auth_token="secret-token"))
    assert err.value.field == "auth_token" and "secret-token" not in str(err.value)


@pytest.mark.parametrize("spot", [True, False])
def test_max_wait_seconds_is_refused_not_sent_as_a_no_op(spot):
    """Vertex applies scheduling.maxWaitDuration to FLEX_START only: with SPOT it would silently do nothing."""
    provider = get("vertex", **OFFLINE)
    with pytest.raises(ValidationError) as err:
        provider.validate(spec(Resources(accelerator="T4:1", spot=spot), max_run_seconds=3600, max_wait_seconds=7200))
    assert err.value.field == "max_wait_seconds" and "FLEX_START" in str(err.value)
    provider.validate(spec(Resources(accelerator="T4:1", spot=spot), max_run_seconds=3600))
