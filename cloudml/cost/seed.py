"""Regenerate the bundled snapshot ``data/catalog.csv`` from sourced price facts.

    python -m cloudml.cost.seed ../shared/data/prices.csv    # writes cloudml/cost/data/catalog.csv

Not imported at run time; kept so every bundled number can be traced to a source row and a formula.

Inputs (both sourced, never edited by hand except to transcribe):
- shared/data/prices.csv: EC2, Compute Engine (incl. TPUs), Azure VM and SageMaker ml.* list prices, each with its
  source repository/path/commit; read on ``PRICES_OBSERVED`` (the day the facts were seen at those sources);
- ``data/regional_sources.csv``: per-region rows transcribed from the same public catalogs (SkyPilot's catalog files,
  repository/path/commit per row), read on ``REGIONAL_OBSERVED``: EC2 P-family in every region listed there, Compute
  Engine A2/A3 host rows, Azure NC/ND/F rows in every US region listed.

Rules (each row's ``source``/``formula`` repeats the rule that made it):
- SageMaker: a sourced ml.* list price is used as is, except the ones that predate AWS's mid-2025 P4/P5 price cut
  (``STALE_SAGEMAKER``: their own source lists the pre-cut EC2 price); otherwise EC2 on-demand in that region x the
  type's measured SageMaker/EC2 ratio (from a sourced us-east-1 pair) or ``SAGEMAKER_PREMIUM``; always
  ``vm_price_usd_hour`` = the EC2 price. Managed spot = SageMaker on-demand x (EC2 spot / EC2 on-demand).
- Regions without a sourced EC2 row for a type (``DERIVED_AWS_REGIONS``): EC2 us-east-1 x the region's multiplier,
  measured as the median of (EC2 price in region / EC2 price in us-east-1) over every type sourced in both.
- Vertex AI: Compute Engine machine (+ accelerators, or TPU slice) x ``VERTEX_PREMIUM``, always ``derived``. Other
  regions for A2/A3/G2/N1: the us-central1 (A3: us-east4) total x the ratio of the same family's sourced host-row
  prices (region / base region). Rows the source flags ``ANOMALY`` are left out with the reason printed.
- Azure ML: the VM price (Azure ML bills the VM), sourced on-demand and spot. NCv3 rows are kept and dropped on load
  as retired (instances.RETIREMENTS), so the drop is visible in ``catalog validate``.
"""

from __future__ import annotations

import csv
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from cloudml import accelerators
from cloudml.cost import instances
from cloudml.cost.catalog import (
    BUNDLED,
    SAGEMAKER_PREMIUM,
    VERTEX_PREMIUM,
    Offer,
    build,
    inverted_pairs,
    write_csv,
)

PRICES_OBSERVED = "2026-11-23"
REGIONAL_OBSERVED = "2026-12-01"
REGIONAL = Path(__file__).with_name("data") / "regional_sources.csv"
STALE_SAGEMAKER = {
    "ml.p4d.24xlarge": "fmbench list predates the mid-2025 P4/P5 price cut (it lists EC2 p4d at pre-cut 32.77)",
    "ml.p5.48xlarge": "fmbench list predates the mid-2025 P4/P5 price cut (it lists EC2 p5 at pre-cut 98.32)",
}
DERIVED_AWS_REGIONS = ("us-east-2", "us-west-2", "eu-west-1", "eu-central-1")
VERTEX_A2_REGIONS = ("us-east1", "us-west1", "europe-west4", "asia-northeast1", "asia-southeast1", "us-west4")
VERTEX_A3_REGIONS = ("us-central1", "us-west1", "europe-west4", "europe-west1", "asia-northeast1", "us-west4")
VERTEX_SMALL_REGIONS = ("us-east1", "us-west1", "europe-west4")

# prices.csv GCE rows -> Vertex (machine type, accelerator, chips). Vertex spelling: see instances.py.
VERTEX_NAMES = {
    "n1-standard-8": ("n1-standard-8", None, 0),
    "n1-standard-8 + 1xV100": ("n1-standard-8", "V100", 1),
    "n1-standard-8 + 1xT4": ("n1-standard-8", "T4", 1),
    "a2-highgpu-1g": ("a2-highgpu-1g", "A100", 1), "a2-highgpu-2g": ("a2-highgpu-2g", "A100", 2),
    "a2-highgpu-4g": ("a2-highgpu-4g", "A100", 4), "a2-highgpu-8g": ("a2-highgpu-8g", "A100", 8),
    "a2-ultragpu-1g": ("a2-ultragpu-1g", "A100-80GB", 1), "a2-ultragpu-8g": ("a2-ultragpu-8g", "A100-80GB", 8),
    "a3-highgpu-8g": ("a3-highgpu-8g", "H100", 8), "g2-standard-4": ("g2-standard-4", "L4", 1),
    "tpu-v2-8": ("cloud-tpu", "TPU-V2", 4), "tpu-v3-8": ("cloud-tpu", "TPU-V3", 4),
    "tpu-v4-8": ("ct4p-hightpu-4t", "TPU-V4", 4),
    "tpu-v5litepod-1": ("ct5lp-hightpu-1t", "TPU-V5E", 1), "tpu-v5litepod-4": ("ct5lp-hightpu-4t", "TPU-V5E", 4),
    "tpu-v5litepod-8": ("ct5lp-hightpu-8t", "TPU-V5E", 8), "tpu-v5p-8": ("ct5p-hightpu-4t", "TPU-V5P", 4),
    "tpu-v6e-1": ("ct6e-standard-1t", "TPU-V6E", 1), "tpu-v6e-8": ("ct6e-standard-8t", "TPU-V6E", 8),
}

# One CPU baseline for Azure that prices.csv lacks, read from the same SkyPilot Azure catalog file.
EXTRA_AZURE = [{
    "instance_type": "Standard_D32s_v3", "region": "eastus", "ondemand_usd_hr": "1.536", "spot_usd_hr": "0.16896",
    "source": "skypilot-org/skypilot-catalog:catalogs/v6/azure/vms.csv@098741e70562", "notes": "CPU baseline",
    "observed": PRICES_OBSERVED,
}]


def _src(r: dict[str, str]) -> str:
    return f"{r['source_repo']}:{r['source_path']}@{r['source_commit'][:12]}"


def _num(text: str | None) -> float | None:
    return float(text) if text and text.strip() else None


def _offer(provider, itype, region, acc, count, price, capacity, source, observed, derived, formula="", *,
           vm=None, acc_mem=None, notes="") -> Offer:
    shape = instances.shape_of(provider, itype, acc)
    return Offer(provider=provider, instance_type=itype, region=region, accelerator=acc, accelerator_count=count,
                 accelerator_memory_gib=acc_mem if acc_mem is not None else instances.accelerator_memory(acc),
                 vcpus=shape.vcpus if shape else None, memory_gib=shape.memory_gib if shape else None,
                 price_usd_hour=round(price, 6), capacity=capacity, source=source, observed_at=observed,
                 derived=derived, formula=formula, vm_price_usd_hour=round(vm, 6) if vm is not None else None,
                 notes=notes)


def _ec2_prices(rows, regional):
    """(ec2 type, region) -> (on-demand, spot or None, source, observed); regional rows win (read later)."""
    out = {}
    for r in rows:
        if r["cloud"] == "aws" and r["service"] == "ec2":
            out[(r["instance_type"], r["region"])] = (float(r["ondemand_usd_hr"]), _num(r["spot_usd_hr"]), _src(r),
                                                      PRICES_OBSERVED)
    for r in regional:
        if r["cloud"] == "aws":
            out[(r["instance_type"], r["region"])] = (float(r["ondemand_usd_hr"]), _num(r["spot_usd_hr"]), _src(r),
                                                      REGIONAL_OBSERVED)
    return out


def region_multipliers(ec2) -> dict[str, tuple[float, list[str]]]:
    """Region -> (median EC2 price ratio to us-east-1, the types measured) over types sourced in both."""
    out = {}
    for region in DERIVED_AWS_REGIONS:
        ratios, types = [], []
        for (itype, reg), (od, *_rest) in ec2.items():
            base = ec2.get((itype, "us-east-1"))
            if reg == region and base:
                ratios.append(od / base[0])
                types.append(itype)
        if ratios:
            out[region] = (statistics.median(ratios), sorted(types))
    return out


def _sagemaker(rows, ec2, excluded) -> list[Offer]:
    offers: list[Offer] = []
    sm_sourced: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["cloud"] == "aws" and r["service"].startswith("sagemaker") and r["instance_type"] not in sm_sourced:
            sm_sourced[r["instance_type"]] = r          # first source wins (fmbench, region us-east-1 assumed)
    mults = region_multipliers(ec2)
    for (provider, itype), shape in sorted(instances.FIXED.items()):
        if provider != "sagemaker":
            continue
        vm_type = itype[3:]
        sm = sm_sourced.get(itype)
        if sm is not None and itype in STALE_SAGEMAKER:
            excluded.append(f"sagemaker {itype}: sourced {sm['ondemand_usd_hr']} not used: {STALE_SAGEMAKER[itype]}")
            sm = None
        base = ec2.get((vm_type, "us-east-1"))
        ratio, ratio_why = SAGEMAKER_PREMIUM, f"SAGEMAKER_PREMIUM {SAGEMAKER_PREMIUM}"
        if sm is not None and base is not None:
            ratio = float(sm["ondemand_usd_hr"]) / base[0]
            ratio_why = f"measured ratio {ratio:.4f} (SageMaker {sm['ondemand_usd_hr']} / EC2 {base[0]:g}, us-east-1)"
        regions = {reg for (t, reg) in ec2 if t == vm_type}
        if base is not None:
            regions |= set(mults)
        for region in sorted(regions):
            vm = ec2.get((vm_type, region))
            if vm is not None:
                vm_od, vm_spot, vm_src, observed = vm
                vm_how = f"EC2 {vm_type} {region} {vm_od:g} ({vm_src})"
            elif base is not None and region in mults:
                mult, types = mults[region]
                vm_od = base[0] * mult
                vm_spot = base[1] * mult if base[1] else None
                observed = REGIONAL_OBSERVED
                vm_src = base[2]
                vm_how = (f"EC2 {vm_type} us-east-1 {base[0]:g} x {region} multiplier {mult:.4f} (median EC2 "
                          f"{region}/us-east-1 over {', '.join(types)}; availability in {region} not verified)")
            else:
                continue
            if sm is not None and region == "us-east-1":
                od = float(sm["ondemand_usd_hr"])
                basis = ("SageMaker list price as published for real-time hosting; training assumed to cost the "
                         "same" if "hosting" in sm["service"] else "SageMaker list price")
                if "unstated" in sm["region"] or "assumed" in sm["region"]:
                    basis += "; the list does not name its region: us-east-1 assumed"
                offers.append(_offer("sagemaker", itype, region, shape.accelerator, shape.count, od, "on_demand",
                                     _src(sm), PRICES_OBSERVED, False, basis, vm=vm_od,
                                     notes=f"source region {sm['region']!r}; {sm['notes']}"))
            else:
                od = vm_od * ratio
                offers.append(_offer("sagemaker", itype, region, shape.accelerator, shape.count, od, "on_demand",
                                     vm_src, observed, True, f"{vm_how} x {ratio_why}", vm=vm_od))
            if vm_spot:
                offers.append(_offer("sagemaker", itype, region, shape.accelerator, shape.count,
                                     od * vm_spot / vm_od, "spot", vm_src, observed, True,
                                     f"managed spot = SageMaker on-demand {od:.4f} x EC2 spot/on-demand "
                                     f"{vm_spot:g}/{vm_od:g} in {region}", vm=vm_spot))
    return offers


def _vertex(rows, regional, excluded) -> list[Offer]:
    offers: list[Offer] = []
    host = {}
    for r in regional:
        if r["cloud"] == "gcp":
            host[(r["instance_type"].split(" ")[0], r["region"])] = float(r["ondemand_usd_hr"])
    seen = set()
    for r in rows:
        if r["cloud"] != "gcp" or r["instance_type"] not in VERTEX_NAMES:
            continue
        if r["price_scope"] not in ("host+GPU total", "host VM only", "TPU slice total (accelerator row)"):
            continue
        itype, acc, count = VERTEX_NAMES[r["instance_type"]]
        if (acc is None) != (r["accel_count"] in ("", "0")):
            continue                                    # a host-only row of a GPU machine type (A2 host)
        if "ANOMALY" in r["notes"]:
            excluded.append(f"vertex {itype} {r['region']}: source flags {r['notes']!r}")
            continue
        acc_mem = _num(r["accel_mem_gib_each"])
        family_host = {"a2-highgpu": "a2-highgpu-1g", "a3-highgpu": "a3-highgpu-1g"}.get(instances.family(itype))
        if family_host is None and (itype.startswith(("g2-", "n1-"))):
            family_host = "a2-highgpu-1g"
        targets = [(r["region"], 1.0, "")]
        if family_host and (family_host, r["region"]) in host:
            base = host[(family_host, r["region"])]
            wanted = (VERTEX_A3_REGIONS if family_host.startswith("a3") else
                      VERTEX_A2_REGIONS if itype.startswith("a2-") else VERTEX_SMALL_REGIONS)
            for region in wanted:
                if region != r["region"] and (family_host, region) in host:
                    m = host[(family_host, region)] / base
                    targets.append((region, m, f" x {region} multiplier {m:.4f} ({family_host} host row {region} "
                                               f"{host[(family_host, region)]:g} / {r['region']} {base:g})"))
        for region, mult, how in targets:
            if (itype, acc, region) in seen:
                continue
            for capacity, column in (("on_demand", "ondemand_usd_hr"), ("spot", "spot_usd_hr")):
                gce = _num(r[column])
                if gce is None:
                    continue
                gce *= mult
                offers.append(_offer("vertex", itype, region, acc, count, gce * VERTEX_PREMIUM, capacity, _src(r),
                                     PRICES_OBSERVED if mult == 1.0 else REGIONAL_OBSERVED, True,
                                     f"Compute Engine {r['instance_type']} {r['region']} {capacity} {_num(r[column]):g}"
                                     f"{how} x VERTEX_PREMIUM {VERTEX_PREMIUM}", vm=gce, acc_mem=acc_mem,
                                     notes=r["notes"]))
            seen.add((itype, acc, region))
    return offers


def _azure(rows, regional) -> list[Offer]:
    offers: list[Offer] = []
    table = {}
    for r in rows:
        if r["cloud"] == "azure":
            table[(r["instance_type"], r["region"])] = dict(r, source=_src(r), observed=PRICES_OBSERVED)
    for r in EXTRA_AZURE:
        table[(r["instance_type"], r["region"])] = r
    for r in regional:
        if r["cloud"] == "azure":
            table[(r["instance_type"], r["region"])] = dict(r, source=_src(r), observed=REGIONAL_OBSERVED)
    for (itype, region), r in sorted(table.items()):
        shape = instances.FIXED[("azureml", itype)]
        for capacity, column in (("on_demand", "ondemand_usd_hr"), ("spot", "spot_usd_hr")):
            price = _num(r[column])
            if price is not None:
                offers.append(_offer("azureml", itype, region, shape.accelerator, shape.count, price, capacity,
                                     r["source"], r["observed"], False, vm=price,
                                     notes="Azure ML bills the VM price" + (f"; {r['notes']}" if r["notes"] else "")))
    return offers


def seed(rows: list[dict[str, str]], regional: list[dict[str, str]] | None = None) -> tuple[list[Offer], list[str]]:
    regional = regional if regional is not None else _read(REGIONAL)
    excluded: list[str] = []
    ec2 = _ec2_prices(rows, regional)
    offers = _sagemaker(rows, ec2, excluded) + _vertex(rows, regional, excluded) + _azure(rows, regional)
    listed: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["cloud"] == "aws" and r["service"].startswith("sagemaker"):
            listed.setdefault(_src(r), {})[r["instance_type"]] = float(r["ondemand_usd_hr"])
    return _explain_inversions(offers, listed), excluded


def _explain_inversions(offers: list[Offer], listed: dict[str, dict[str, float]]) -> list[Offer]:
    """A larger size priced below a smaller one per accelerator-hour is kept only when both prices come from the
    same source, which then is the reason (AWS lists ml.p3.8xlarge at 14.688 = 3.672/GPU below ml.p3.2xlarge 3.825;
    Azure lists NC64as_T4_v3 below NC16as_T4_v3 per GPU); the reason is written into ``price_reason``."""
    reasons = {}
    for a, b in inverted_pairs(offers):
        if a.source == b.source or listed.get(b.source, {}).get(a.instance_type) == a.price_usd_hour:
            reasons[b.key] = (f"the same source ({b.source}) lists {b.instance_type} below {a.instance_type} "
                              f"per accelerator-hour")
    return [replace(o, price_reason=reasons[o.key]) if o.key in reasons else o for o in offers]


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "prices.csv"
    offers, excluded = seed(_read(src))
    catalog = build([("seed", [o.to_row() for o in offers])])
    for _row, reason in catalog.dropped:
        print(f"dropped on load (kept in the file): {reason}", file=sys.stderr)
    for reason in excluded:
        print(f"excluded: {reason}", file=sys.stderr)
    write_csv(offers, BUNDLED)
    print(f"wrote {len(offers)} rows to {BUNDLED} ({len(catalog.rows)} offered after the load checks)")
    assert all(o.accelerator is None or o.accelerator in accelerators.ACCELERATORS for o in catalog.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
