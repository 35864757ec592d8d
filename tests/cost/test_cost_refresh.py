"""``catalog refresh`` against local fakes of the three price APIs; the planner then uses what was written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from price_api_fakes import PriceAPIs

from cloudml.cli import main
from cloudml.cost import PlanRequest, Workload, load_catalog, plan, price_of
from cloudml.cost.catalog import cache_path, read_csv
from cloudml.cost.refresh import RefreshError, refresh


@pytest.fixture
def apis(monkeypatch):
    with PriceAPIs() as fake:
        monkeypatch.setenv("CLOUDML_AWS_PRICING_ENDPOINT", fake.url)
        monkeypatch.setenv("CLOUDML_GCP_BILLING_URL", fake.url + "/v1")
        monkeypatch.setenv("CLOUDML_AZURE_PRICES_URL", fake.url + "/api/retail/prices")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield fake


def test_refresh_sagemaker_reads_training_prices_and_derives_missing_from_ec2(apis):
    count, path = refresh(["sagemaker"], as_of="2026-11-30")
    assert path == cache_path() and count == 3
    catalog = load_catalog()
    p3 = price_of("sagemaker", "ml.p3.2xlarge", "us-east-1", catalog=catalog)
    assert p3.price_usd_hour == 3.5 and not p3.derived and p3.as_of == "2026-11-30"   # Training, not Hosting 9.99
    assert "AmazonSageMaker sku SKUP3TRAIN" in p3.source
    p4de = price_of("sagemaker", "ml.p4de.24xlarge", "us-east-1", catalog=catalog)
    assert p4de.derived and p4de.price_usd_hour == pytest.approx(25.0) and "AmazonEC2" in p4de.source
    targets = {r[1] for r in apis.requests if r[0] == "POST"}
    assert targets == {"AWSPriceListService.GetProducts"}
    pages = [r[2].get("NextToken") for r in apis.requests if r[2].get("ServiceCode") == "AmazonSageMaker"]
    assert pages == [None, "1"]                                                     # paginated


def test_refresh_vertex_prices_machines_from_component_skus(apis):
    count, _ = refresh(["vertex"], as_of="2026-11-30")
    catalog = load_catalog()
    host = price_of("vertex", "n1-standard-8", "us-central1", catalog=catalog)
    t4 = price_of("vertex", "n1-standard-8", "us-central1", accelerator="T4:1", catalog=catalog)
    t4x4 = price_of("vertex", "n1-standard-8", "us-central1", accelerator="T4:4", catalog=catalog)
    t4_spot = price_of("vertex", "n1-standard-8", "us-central1", spot=True, accelerator="T4", catalog=catalog)
    a100 = price_of("vertex", "a2-highgpu-1g", "us-central1", catalog=catalog)
    n1 = 8 * 0.031611 + 30 * 0.004237
    assert host.price_usd_hour == pytest.approx(n1 * 1.15, abs=1e-6) and host.derived
    assert t4.price_usd_hour == pytest.approx((n1 + 0.35) * 1.15, abs=1e-6)
    assert t4x4.price_usd_hour == pytest.approx((n1 + 4 * 0.35) * 1.15, abs=1e-6)
    assert t4_spot.price_usd_hour == pytest.approx((8 * 0.00698 + 30 * 0.000936 + 0.14) * 1.15, abs=1e-6)
    assert a100.price_usd_hour == pytest.approx((12 * 0.031611 + 85 * 0.004237 + 2.933908) * 1.15, abs=1e-6)
    assert "T4OD" in t4.source and "Commit" not in t4.source
    # TPU rows are not refreshed: the bundled ones stay
    assert price_of("vertex", "ct5lp-hightpu-8t", "us-central1", catalog=catalog).as_of == "2026-11-23"
    # on demand: n1 host, T4 x1/x2/x4, a2-highgpu-1g/2g/4g/8g; spot: n1 host, T4 x1/x2/x4 (no V100/L4/H100 SKUs)
    assert count == 12


def test_refresh_azure_reads_linux_consumption_and_spot_meters(apis):
    refresh(["azureml"], as_of="2026-11-30")
    catalog = load_catalog()
    nc = price_of("azureml", "Standard_NC6s_v3", "eastus", catalog=catalog)
    spot = price_of("azureml", "Standard_NC6s_v3", "eastus", spot=True, catalog=catalog)
    h100 = price_of("azureml", "Standard_ND96isr_H100_v5", "eastus", catalog=catalog)
    assert (nc.price_usd_hour, spot.price_usd_hour, h100.price_usd_hour) == (2.0, 0.3, 90.0)
    assert h100.accelerator_count == 8 and "Retail Prices API" in nc.source
    queries = [r[2] for r in apis.requests if r[1] == "/api/retail/prices"]
    assert "armSkuName eq 'Standard_NC6s_v3'" in queries[0]["$filter"] and queries[1]["$skip"] == "100"


def test_refresh_all_three_then_plan_uses_the_new_prices(apis):
    result = CliRunner().invoke(main, ["catalog", "refresh", "-p", "aws", "-p", "gcp", "-p", "azure"])
    assert result.exit_code == 0, result.output
    written = read_csv(cache_path())
    assert {r["provider"] for r in written} == {"sagemaker", "vertex", "azureml"}
    assert all(r["as_of"] and r["source"] for r in written)
    plans = plan(PlanRequest(accelerator="V100:1", workload=Workload(hours=10)))
    best = plans[0]
    assert (best.offer.instance_type, best.offer.price_usd_hour, best.total_usd) == ("Standard_NC6s_v3", 2.0, 20.0)
    # refreshing one provider keeps the others' cached rows
    refresh(["azureml"], as_of="2026-12-01")
    assert {r["provider"] for r in read_csv(cache_path())} == {"sagemaker", "vertex", "azureml"}


def test_refresh_errors_exit_1_with_the_provider_named(monkeypatch):
    monkeypatch.setenv("CLOUDML_AZURE_PRICES_URL", "http://127.0.0.1:9/api/retail/prices")   # discard port
    with pytest.raises(RefreshError, match="refresh azureml"):
        refresh(["azureml"])
    result = CliRunner().invoke(main, ["catalog", "refresh", "-p", "azure"])
    assert result.exit_code == 1 and "refresh azureml" in result.output
    bad = CliRunner().invoke(main, ["catalog", "refresh", "-p", "ibm"])
    assert bad.exit_code == 2 and "'ibm'" in bad.output
