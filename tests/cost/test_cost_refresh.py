"""``catalog refresh`` against local fakes of the price APIs (their real response shapes, incl. spot and the SKU
kinds that must be excluded); the planner then uses what was written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from price_api_fakes import PriceAPIs

from cloudml.cli import main
from cloudml.cost import PlanRequest, Workload, load_catalog, plan, price_of
from cloudml.cost.catalog import cache_path, read_csv
from cloudml.cost.refresh import AZURE_API_VERSION, RefreshError, refresh
from cloudml.errors import CredentialsError


@pytest.fixture
def apis(monkeypatch):
    with PriceAPIs() as fake:
        monkeypatch.setenv("CLOUDML_AWS_PRICING_ENDPOINT", fake.url)
        monkeypatch.setenv("CLOUDML_AWS_EC2_ENDPOINT", fake.url)
        monkeypatch.setenv("CLOUDML_GCP_BILLING_URL", fake.url + "/v1")
        monkeypatch.setenv("CLOUDML_GCP_API_KEY", "test-key")
        monkeypatch.setenv("CLOUDML_AZURE_PRICES_URL", fake.url + "/api/retail/prices")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield fake


def test_refresh_sagemaker_reads_training_prices_excludes_other_skus_and_fetches_spot(apis):
    refresh(["sagemaker"], observed="2026-11-30")
    catalog = load_catalog()
    p3 = price_of("sagemaker", "ml.p3.2xlarge", "us-east-1", catalog=catalog)
    assert p3.price_usd_hour == 3.5 and not p3.derived and p3.observed_at == "2026-11-30"   # Training, not Hosting
    assert "AmazonSageMaker sku SKUP3TRAIN" in p3.source and p3.vm_price_usd_hour == 3.06  # not the Reserved 2.0
    p4de = price_of("sagemaker", "ml.p4de.24xlarge", "us-east-1", catalog=catalog)
    # the plain on-demand product (28.0), not the Capacity Block (14.0), reservation (26.0) or dedicated ones
    assert p4de.derived and p4de.price_usd_hour == pytest.approx(35.0) and "SKUEC2P4DE " in p4de.source + " "
    spot = price_of("sagemaker", "ml.p3.2xlarge", "us-east-1", spot=True, catalog=catalog)
    # the latest reading per AZ, the lowest AZ: 0.459 in us-east-1a; managed spot = 3.5 x 0.459 / 3.06
    assert spot.price_usd_hour == pytest.approx(3.5 * 0.459 / 3.06) and "us-east-1a" in spot.source
    g5_spot = price_of("sagemaker", "ml.g5.xlarge", "us-east-1", spot=True, catalog=catalog)
    assert g5_spot.observed_at != "2026-11-30"           # the fake's g5 spot is above on-demand: not refreshed
    calls = [r for r in apis.requests if r[1] == "AWSPriceListService.GetProducts"]
    sagemaker = [r[2] for r in calls if r[2]["ServiceCode"] == "AmazonSageMaker"]
    assert {f["Field"]: f["Value"] for f in sagemaker[0]["Filters"]} == {"regionCode": "us-east-1",
                                                                          "component": "Training"}
    assert [c.get("NextToken") for c in sagemaker] == [None, "2"]                              # paginated
    ec2 = [r[2] for r in calls if r[2]["ServiceCode"] == "AmazonEC2"]
    fields = {f["Field"]: f["Value"] for f in ec2[0]["Filters"]}
    assert fields["capacitystatus"] == "Used" and fields["marketoption"] == "OnDemand" and fields["tenancy"] == "Shared"
    spot_calls = [r[2] for r in apis.requests if r[1] == "DescribeSpotPriceHistory"]
    assert spot_calls and spot_calls[0]["ProductDescription.1"] == "Linux/UNIX"


def test_refresh_vertex_uses_vertex_skus_then_compute_engine_and_tpus(apis):
    refresh(["vertex"], observed="2026-11-30")
    catalog = load_catalog()
    host = price_of("vertex", "n1-standard-8", "us-central1", catalog=catalog)
    t4 = price_of("vertex", "n1-standard-8", "us-central1", accelerator="T4:1", catalog=catalog)
    t4_spot = price_of("vertex", "n1-standard-8", "us-central1", spot=True, accelerator="T4", catalog=catalog)
    a100 = price_of("vertex", "a2-highgpu-1g", "us-central1", catalog=catalog)
    vx_n1 = 8 * 0.036489 + 30 * 0.004892
    assert host.price_usd_hour == pytest.approx(vx_n1, abs=1e-6) and not host.derived      # Vertex AI's own SKUs
    assert "C7E2-9256-1C43" in host.source and host.vm_price_usd_hour == pytest.approx(8 * 0.031611 + 30 * 0.004237)
    assert t4.price_usd_hour == pytest.approx(vx_n1 + 0.4025, abs=1e-6) and "VXT4" in t4.source
    assert t4_spot.derived and t4_spot.price_usd_hour == pytest.approx((8 * 0.00698 + 30 * 0.000936 + 0.14) * 1.15)
    assert a100.derived and a100.price_usd_hour == pytest.approx((12 * 0.031611 + 85 * 0.004237 + 2.933908) * 1.15)
    v5e = price_of("vertex", "ct5lp-hightpu-8t", "us-central1", catalog=catalog)
    v5e_spot = price_of("vertex", "ct5lp-hightpu-4t", "us-central1", spot=True, catalog=catalog)
    v3 = price_of("vertex", "cloud-tpu", "us-central1", accelerator="TPU-V3:4", catalog=catalog)
    assert v5e.price_usd_hour == pytest.approx(8 * 1.2 * 1.15) and v5e.observed_at == "2026-11-30"
    assert v5e_spot.price_usd_hour == pytest.approx(4 * 0.24 * 1.15)        # "Preemptible" in the description
    assert v3.price_usd_hour == pytest.approx(8.0 * 1.15)                    # one v3-8 device, not the Pod SKU
    assert price_of("vertex", "ct4p-hightpu-4t", "us-central2", catalog=catalog).observed_at == "2026-11-23"
    keys = {r[2].get("key") for r in apis.requests if r[1].endswith("/skus")}
    assert keys == {"test-key"}
    assert {r[1] for r in apis.requests if r[1].endswith("/skus")} == {
        "/v1/services/6F81-5844-456A/skus", "/v1/services/C7E2-9256-1C43/skus", "/v1/services/E000-3F24-B8AA/skus"}


def test_refresh_vertex_states_its_credential_need_before_calling(apis, monkeypatch):
    monkeypatch.delenv("CLOUDML_GCP_API_KEY")
    with pytest.raises(CredentialsError, match="CLOUDML_GCP_API_KEY") as caught:
        refresh(["vertex"])
    assert "refuses anonymous calls" in str(caught.value)
    assert not [r for r in apis.requests if r[1].endswith("/skus")]                   # nothing was called
    monkeypatch.setenv("CLOUDML_GCP_ACCESS_TOKEN", "ya29.token")
    refresh(["vertex"], observed="2026-11-30")
    assert {r[2]["_auth"] for r in apis.requests if r[1].endswith("/skus")} == {"Bearer ya29.token"}


def test_refresh_sagemaker_states_its_credential_need_before_calling(apis, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialsError, match="pricing:GetProducts"):
        refresh(["sagemaker"])
    assert apis.requests == []


def test_refresh_azure_sends_api_version_reads_linux_and_low_priority_meters(apis):
    refresh(["azureml"], observed="2026-11-30")
    catalog = load_catalog()
    nc = price_of("azureml", "Standard_NC4as_T4_v3", "eastus", catalog=catalog)
    low = price_of("azureml", "Standard_NC4as_T4_v3", "eastus", spot=True, catalog=catalog)
    h100 = price_of("azureml", "Standard_ND96isr_H100_v5", "eastus", catalog=catalog)
    h100_spot = price_of("azureml", "Standard_ND96isr_H100_v5", "eastus", spot=True, catalog=catalog)
    assert (nc.price_usd_hour, low.price_usd_hour, h100.price_usd_hour) == (0.5, 0.1, 90.0)   # not Windows/DevTest
    assert h100_spot.price_usd_hour == 30.0                                  # no Low Priority meter: the Spot one
    assert h100.accelerator_count == 8 and "Retail Prices API" in nc.source
    queries = [r[2] for r in apis.requests if r[1] == "/api/retail/prices"]
    assert all(q["api-version"] == AZURE_API_VERSION for q in queries)
    assert "armSkuName eq 'Standard_NC4as_T4_v3'" in queries[0]["$filter"] and queries[1]["$skip"] == "100"


def test_refresh_all_three_then_plan_uses_the_new_prices(apis):
    result = CliRunner().invoke(main, ["catalog", "refresh", "-p", "aws", "-p", "gcp", "-p", "azure"])
    assert result.exit_code == 0, result.output
    written = read_csv(cache_path())
    assert {r["provider"] for r in written} == {"sagemaker", "vertex", "azureml"}
    assert all(r["observed_at"] == written[0]["observed_at"] and r["source"] for r in written)
    plans = plan(PlanRequest(accelerator="T4:1", workload=Workload(hours=10)))
    best = plans[0]
    assert (best.offer.instance_type, best.offer.price_usd_hour, best.total_usd) == ("Standard_NC4as_T4_v3", 0.5, 5.0)
    # refreshing one provider keeps the others' cached rows
    refresh(["azureml"], observed="2026-12-01")
    assert {r["provider"] for r in read_csv(cache_path())} == {"sagemaker", "vertex", "azureml"}


def test_refresh_errors_exit_1_with_the_provider_named(monkeypatch):
    monkeypatch.setenv("CLOUDML_AZURE_PRICES_URL", "http://127.0.0.1:9/api/retail/prices")   # discard port
    with pytest.raises(RefreshError, match="refresh azureml"):
        refresh(["azureml"])
    result = CliRunner().invoke(main, ["catalog", "refresh", "-p", "azure"])
    assert result.exit_code == 1 and "refresh azureml" in result.output
    bad = CliRunner().invoke(main, ["catalog", "refresh", "-p", "ibm"])
    assert bad.exit_code == 2 and "'ibm'" in bad.output
