"""The bundled snapshot, validation of the known traps, layering and price_of."""

from __future__ import annotations

import os

import pytest
from cost_helpers import row, write_rows

from cloudml.cost import load_catalog, price_of
from cloudml.cost.catalog import BUNDLED, build, cache_path, read_csv
from cloudml.errors import ValidationError


def test_every_bundled_row_passes_validation_and_only_retired_rows_are_dropped():
    rows = read_csv(BUNDLED)
    catalog = build([("bundled", rows)])
    assert all("retired on" in reason for _, reason in catalog.dropped), catalog.dropped[:3]
    assert {r["instance_type"] for r, _ in catalog.dropped} == {"Standard_NC6s_v3", "Standard_NC24s_v3"}
    assert len(catalog.rows) + len(catalog.dropped) == len(rows) >= 500


def test_every_bundled_row_has_provenance_and_an_observation_date():
    for offer in load_catalog().rows:
        assert offer.observed_at in ("2026-11-23", "2026-12-01"), offer.label
        assert "@" in offer.source, offer.label       # repo:path@commit of the price the row rests on
        if offer.derived:
            assert " x " in offer.formula, offer.label
        if offer.provider != "azureml":
            assert offer.vm_price_usd_hour and offer.price_usd_hour >= offer.vm_price_usd_hour, offer.label


def test_at_least_five_regions_per_service():
    rows = load_catalog().rows
    for provider in ("sagemaker", "vertex", "azureml"):
        regions = {o.region for o in rows if o.provider == provider}
        assert len(regions) >= 5, (provider, regions)
    assert {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"} <= {o.region for o in rows if o.provider == "sagemaker"}


def test_p4de_is_not_cheaper_than_p4d_and_p4_p5_use_post_cut_prices():
    for region in ("us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"):
        p4d = price_of("sagemaker", "ml.p4d.24xlarge", region)
        p4de = price_of("sagemaker", "ml.p4de.24xlarge", region)
        assert p4d and p4de and p4de.price_usd_hour >= p4d.price_usd_hour, region
    p4d, p5 = price_of("sagemaker", "ml.p4d.24xlarge", "us-east-1"), price_of("sagemaker", "ml.p5.48xlarge", "us-east-1")
    assert p4d.vm_price_usd_hour == pytest.approx(21.957642) and p5.vm_price_usd_hour == pytest.approx(55.04)
    assert p4d.price_usd_hour < 37.688 and p5.price_usd_hour < 113.068        # the stale pre-cut list prices are gone
    assert "EC2 p4d.24xlarge us-east-1 21.9576" in p4d.formula


def test_current_families_are_offered():
    types = {(o.provider, o.instance_type) for o in load_catalog().rows}
    for want in [("sagemaker", "ml.p5.4xlarge"), ("sagemaker", "ml.p5en.48xlarge"), ("sagemaker", "ml.p6-b200.48xlarge"),
                 ("azureml", "Standard_NC80adis_H100_v5"), ("azureml", "Standard_NC64as_T4_v3"),
                 ("azureml", "Standard_F4s_v2"), ("vertex", "a2-highgpu-4g")]:
        assert want in types, want


def test_retired_azure_ncv3_is_never_offered():
    assert not any(o.instance_type.startswith("Standard_NC") and o.instance_type.endswith("s_v3")
                   for o in load_catalog().rows)
    catalog = build([("t", [row("azureml", "Standard_NC6s_v3", "V100", 1, 3.06, region="eastus")])])
    assert catalog.rows == () and "retired on 2025-09-30" in catalog.dropped[0][1]


def test_a_retiring_row_is_kept_and_flagged():
    catalog = build([("t", [row("azureml", "Standard_NC4as_T4_v3", "T4", 1, 0.5, region="eastus",
                                retires_on="2999-01-01")])])
    (offer,) = catalog.rows
    assert offer.lifecycle == "retiring" and offer.retires_on == "2999-01-01"


@pytest.mark.parametrize("provider, instance_type, accelerator", [
    ("sagemaker", "ml.m5.xlarge", None), ("sagemaker", "ml.g4dn.xlarge", "T4"), ("sagemaker", "ml.p3.2xlarge", "V100"),
    ("sagemaker", "ml.g5.xlarge", "A10G"), ("sagemaker", "ml.g6.xlarge", "L4"), ("sagemaker", "ml.p4d.24xlarge", "A100"),
    ("sagemaker", "ml.p4de.24xlarge", "A100-80GB"), ("sagemaker", "ml.p5.48xlarge", "H100"),
    ("sagemaker", "ml.trn1.32xlarge", "TRAINIUM"),
    ("vertex", "n1-standard-8", None), ("vertex", "n1-standard-8", "T4"), ("vertex", "n1-standard-8", "V100"),
    ("vertex", "g2-standard-4", "L4"), ("vertex", "a2-highgpu-8g", "A100"), ("vertex", "a3-highgpu-8g", "H100"),
    ("vertex", "cloud-tpu", "TPU-V3"), ("vertex", "ct4p-hightpu-4t", "TPU-V4"), ("vertex", "ct5lp-hightpu-8t", "TPU-V5E"),
    ("vertex", "ct5p-hightpu-4t", "TPU-V5P"), ("vertex", "ct6e-standard-8t", "TPU-V6E"),
    ("azureml", "Standard_D32s_v3", None), ("azureml", "Standard_NC4as_T4_v3", "T4"), ("azureml", "Standard_ND40rs_v2", "V100-32GB"),
    ("azureml", "Standard_NC24ads_A100_v4", "A100-80GB"), ("azureml", "Standard_ND96asr_v4", "A100"),
    ("azureml", "Standard_ND96isr_H100_v5", "H100"),
])
def test_families_present(provider, instance_type, accelerator):
    assert any(o.provider == provider and o.instance_type == instance_type and o.accelerator == accelerator
               for o in load_catalog().rows)


def test_bundled_anomalies_are_not_ranked():
    labels = {o.label for o in load_catalog().rows}
    assert not any("a2-ultragpu" in label for label in labels)                       # source flags ANOMALY
    # the anomalous us-central1 A3 row (43.07) is not used; us-central1 is derived from the sourced us-east4 row
    a3 = price_of("vertex", "a3-highgpu-8g", "us-central1")
    assert a3.derived and "us-east4" in a3.formula and a3.vm_price_usd_hour == pytest.approx(87.83247)
    nd_h100 = [o for o in load_catalog().rows if o.instance_type == "Standard_ND96isr_H100_v5"]
    assert {(o.capacity, o.accelerator_count) for o in nd_h100} == {("on_demand", 8)}  # placeholder spot gone


def test_derived_premiums_are_the_documented_factors():
    p4de = price_of("sagemaker", "ml.p4de.24xlarge", "us-east-1")
    assert p4de.derived and p4de.price_usd_hour == pytest.approx(27.44705 * 1.25, abs=1e-5)
    a100 = price_of("vertex", "a2-highgpu-1g", "us-central1")
    assert a100.derived and a100.price_usd_hour == pytest.approx(3.67339 * 1.15, abs=1e-5)
    nc = price_of("azureml", "Standard_NC4as_T4_v3", "eastus")
    assert not nc.derived and nc.price_usd_hour == 0.526
    spot = price_of("sagemaker", "ml.p3.2xlarge", "us-east-1", spot=True)   # managed spot = sm x ec2 ratio
    assert spot.price_usd_hour == pytest.approx(3.825 * 0.4803 / 3.06, abs=1e-5)


def test_known_traps_are_dropped_with_reasons():
    rows = [
        row("vertex", "ct6e-standard-1t", "TPU-V6E", 1, 700.0, region="asia-east1"),            # placeholder
        row("azureml", "Standard_NC4as_T4_v3", "T4", 1, 3.06, region="westus"),
        row("azureml", "Standard_NC4as_T4_v3", "T4", 1, 3.50, capacity="spot", region="westus"),  # spot above od
        row("azureml", "Standard_NC40ads_H100_v5", "H100-NVL", 1, 6.98, region="westus"),
        row("azureml", "Standard_NC40ads_H100_v5", "H100-NVL", 1, 6.98, capacity="spot", region="westus"),  # ==
        row("azureml", "Standard_ND96isr_H100_v5", "H100", 12, 98.32, region="westus"),          # wrong count
        row("sagemaker", "ml.p3.2xlarge", "A100", 1, 3.0, region="us-west-2"),                   # wrong kind
        row("sagemaker", "ml.g5.xlarge", "A10G", 1, 0, region="us-west-2"),                      # zero price
        row("sagemaker", "ml.g5.xlarge", "A10G", 1, -1, region="us-east-2"),                     # negative
        row("sagemaker", "ml.g6.xlarge", "L4", 1, 1.0, region="us-west-2"),
        row("sagemaker", "ml.g6.xlarge", "L4", 1, 1.1, region="us-west-2"),                      # duplicate key
        row("sagemaker", "ml.x", "FOO", 1, 1.0),                                                 # unknown accel
        row("oracle", "BM.GPU4.8", "A100", 8, 1.0),                                              # unknown provider
        row("sagemaker", "ml.g6.xlarge", "L4", 1, "nan", region="eu-west-1"),                   # not finite
        row("sagemaker", "ml.g5.2xlarge", "A10G", 1, 1.0, region="eu-west-1", vm_price_usd_hour=1.2),  # managed < VM
        row("vertex", "a2-highgpu-1g", "A100", 1, 4.0, region="r9", observed_at="2026-01-01"),
        row("vertex", "a2-highgpu-2g", "A100", 2, 6.0, region="r9", observed_at="2026-06-01"),   # larger is cheaper
        row("vertex", "a2-highgpu-4g", "A100", 4, 16.0, region="r9"),
        row("vertex", "a2-highgpu-8g", "A100", 8, 24.0, region="r9", price_reason="sourced: list says so"),
    ]
    catalog = build([("traps", rows)])
    reasons = [reason for _, reason in catalog.dropped]
    assert len(reasons) == 13, reasons
    text = "\n".join(reasons)
    for expected in ("700.0 is a known placeholder", "spot price 3.5 is not below on-demand 3.06",
                     "spot price 6.98 is not below on-demand 6.98", "has 8 x H100, row says 12 x H100",
                     "has 1 x V100, row says 1 x A100", "price 0.0 is not positive", "price -1.0 is not positive",
                     "duplicate key", "unknown accelerator 'FOO'", "unknown provider 'oracle'", "not a finite number",
                     "managed price 1 is below the VM price 1.2",
                     "vertex:a2-highgpu-2g A100x2 r9 on_demand (larger variant) costs $3.000 per accelerator-hour, "
                     "less than vertex:a2-highgpu-1g A100x1 r9 on_demand at $4.000, with no price_reason: "
                     "a2-highgpu-1g (observed 2026-01-01) dropped as stale"):
        assert expected in text
    kept = {o.label for o in catalog.rows if o.region != "r9"}
    assert {o.instance_type for o in catalog.rows if o.region == "r9"} == {"a2-highgpu-2g", "a2-highgpu-4g",
                                                                           "a2-highgpu-8g"}
    assert kept == {"azureml:Standard_NC4as_T4_v3 T4x1 westus on_demand",
                    "azureml:Standard_NC40ads_H100_v5 H100-NVLx1 westus on_demand",
                    "sagemaker:ml.g6.xlarge L4x1 us-west-2 on_demand"}
    assert next(o for o in catalog.rows if o.instance_type == "ml.g6.xlarge").price_usd_hour == 1.0


def test_override_replaces_same_key_and_adds_rows(tmp_path, monkeypatch):
    override = write_rows(tmp_path / "mine.csv", [
        row("azureml", "Standard_NC4as_T4_v3", "T4", 1, 2.5, region="eastus", source="my negotiated price"),
        row("vertex", "a2-ultragpu-1g", "A100-80GB", 1, 5.07, region="us-central1"),
    ])
    monkeypatch.setenv("CLOUDML_CATALOG", str(override))
    catalog = load_catalog()
    nc = price_of("azureml", "Standard_NC4as_T4_v3", "eastus", catalog=catalog)
    assert nc.price_usd_hour == 2.5 and nc.source == "my negotiated price"
    assert price_of("vertex", "a2-ultragpu-1g", catalog=catalog).price_usd_hour == 5.07
    assert len(catalog.rows) == len(load_catalog(BUNDLED).rows) + 1
    # an on-demand override below the bundled spot row (0.062699) makes that spot row invalid
    write_rows(override, [row("azureml", "Standard_NC4as_T4_v3", "T4", 1, 0.05, region="eastus")])
    os.utime(override, (1, 1))   # a new mtime: the in-process cache is keyed on it
    again = load_catalog()
    assert any("spot price 0.062699 is not below on-demand 0.05" in r for _, r in again.dropped)


def test_missing_override_file_is_bad_input(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        load_catalog(tmp_path / "nope.csv")


def test_verbose_load_prints_each_dropped_row(tmp_path, capsys):
    bad = write_rows(tmp_path / "bad.csv", [row("vertex", "ct6e-standard-1t", "TPU-V6E", 1, 700.0, region="x")])
    load_catalog(bad, verbose=True)
    assert "dropped vertex:ct6e-standard-1t x on_demand" in capsys.readouterr().err


def test_price_of():
    assert price_of("sagemaker", "ml.p3.2xlarge", "us-east-1").price_usd_hour == 3.825
    assert price_of("sagemaker", "ml.p3.2xlarge", "ap-south-1") is None                    # no row there
    assert price_of("sagemaker", "ml.p3.2xlarge", "eu-west-1").derived                     # regional multiplier
    assert price_of("vertex", "n1-standard-8").accelerator is None                          # bare host
    assert price_of("vertex", "n1-standard-8", accelerator="T4").price_usd_hour == pytest.approx(0.73 * 1.15)
    assert price_of("sagemaker", "ml.nothing") is None


def test_the_validated_catalog_is_reused_across_processes_and_invalidated_by_changes(tmp_path, monkeypatch):
    from cloudml.cost import catalog as cat

    first = load_catalog()
    stored = cache_path().with_name(cat.VALIDATED_FILE)
    assert stored.is_file()
    cat._LOADED.clear()                                   # as a new process would start
    again = load_catalog()
    assert again.rows == first.rows and again is not first and len(again.dropped) == len(first.dropped)
    override = write_rows(tmp_path / "o.csv", [row("azureml", "Standard_NC4as_T4_v3", "T4", 1, 0.4, region="eastus")])
    cat._LOADED.clear()
    changed = load_catalog(override)
    assert price_of("azureml", "Standard_NC4as_T4_v3", "eastus", catalog=changed).price_usd_hour == 0.4
    stored.write_bytes(b"not marshal")                    # a damaged file costs a re-parse, never an error
    cat._LOADED.clear()
    assert load_catalog().rows == first.rows


def test_the_cache_path_agrees_with_the_config_module(monkeypatch, tmp_path):
    from cloudml import config

    for env in ({"CLOUDML_CACHE_DIR": str(tmp_path / "c")}, {"XDG_CACHE_HOME": str(tmp_path / "x")}, {}):
        monkeypatch.delenv("CLOUDML_CACHE_DIR", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert cache_path() == config.cache_dir() / "catalog.csv", env
