"""Regenerate the bundled snapshot ``data/catalog.csv`` from the sourced price facts in shared/data/prices.csv.

    python -m cloudml.cost.seed ../shared/data/prices.csv    # writes cloudml/cost/data/catalog.csv

Not imported at run time; kept so every bundled number can be traced to a source row and a formula.

Rules (each row's ``source``/``notes`` repeat the rule that made it):
- SageMaker: a sourced ml.* list price is used as is (``derived=False``; those sources list real-time hosting
  prices, training assumed equal, region sometimes unstated -> us-east-1 assumed, said in ``notes``);
  otherwise EC2 on-demand x ``SAGEMAKER_PREMIUM`` (``derived=True``). Managed spot is always derived:
  SageMaker on-demand x (EC2 spot / EC2 on-demand).
- Vertex AI: Compute Engine machine (+ accelerators, or TPU slice) x ``VERTEX_PREMIUM``, on-demand and spot,
  always ``derived=True``. Rows the source flags ``ANOMALY`` (a2-ultragpu: the A100-80GB accelerator row has
  spot above on-demand; a3-highgpu-8g in us-central1: H100 row less than half of us-east4) are left out, with
  the reason printed, rather than ranked on a bogus price; ``catalog refresh`` or an override can add them.
- Azure ML: the VM price (Azure ML bills the VM), sourced on-demand and spot (``derived=False``). Spot values
  the source marks as placeholders were already removed from prices.csv.
- ``as_of`` is the date the fact was collected into prices.csv (2026-11-23); the source commit is in ``source``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from cloudml import accelerators
from cloudml.cost import instances
from cloudml.cost.catalog import BUNDLED, SAGEMAKER_PREMIUM, VERTEX_PREMIUM, Offer, build, write_csv

AS_OF = "2026-11-23"

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
    "source": "skypilot-org/skypilot-catalog:catalogs/v6/azure/vms.csv@098741e70562",
    "notes": "CPU baseline (32 vCPU, 128 GiB); row read from the catalog file, not from prices.csv",
}]


def _src(r: dict[str, str]) -> str:
    return f"{r['source_repo']}:{r['source_path']}@{r['source_commit'][:12]}"


def _num(text: str) -> float | None:
    return float(text) if text and text.strip() else None


def _offer(provider, itype, region, acc, count, price, capacity, source, derived, notes, acc_mem=None) -> Offer:
    shape = instances.shape_of(provider, itype, acc)
    return Offer(provider=provider, instance_type=itype, region=region, accelerator=acc, accelerator_count=count,
                 accelerator_memory_gib=acc_mem if acc_mem is not None else instances.accelerator_memory(acc),
                 vcpus=shape.vcpus if shape else None, memory_gib=shape.memory_gib if shape else None,
                 price_usd_hour=round(price, 6), capacity=capacity, source=source, as_of=AS_OF,
                 derived=derived, notes=notes)


def seed(rows: list[dict[str, str]]) -> tuple[list[Offer], list[str]]:
    offers: list[Offer] = []
    excluded: list[str] = []
    ec2 = {r["instance_type"]: r for r in rows if r["cloud"] == "aws" and r["service"] == "ec2"}
    sm_sourced: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["cloud"] == "aws" and r["service"].startswith("sagemaker") and r["instance_type"] not in sm_sourced:
            sm_sourced[r["instance_type"]] = r          # first source wins (fmbench, region us-east-1 assumed)

    for (provider, itype), shape in sorted(instances.FIXED.items()):
        if provider != "sagemaker":
            continue
        vm = ec2.get(itype[3:])
        sm = sm_sourced.get(itype)
        if sm is not None:
            od = float(sm["ondemand_usd_hr"])
            region_note = "" if sm["region"] == "us-east-1 (assumed)" else f"source region {sm['region']!r}; "
            offers.append(_offer("sagemaker", itype, "us-east-1", shape.accelerator, shape.count, od, "on_demand",
                                 _src(sm), False, f"{region_note}us-east-1 assumed; {sm['notes']}"))
        elif vm is not None:
            od = float(vm["ondemand_usd_hr"]) * SAGEMAKER_PREMIUM
            offers.append(_offer("sagemaker", itype, "us-east-1", shape.accelerator, shape.count, od, "on_demand",
                                 f"derived from {_src(vm)}", True,
                                 f"EC2 {vm['instance_type']} {vm['ondemand_usd_hr']} x SAGEMAKER_PREMIUM {SAGEMAKER_PREMIUM}"))
        else:
            continue
        if vm is not None and _num(vm["spot_usd_hr"]):
            ratio = float(vm["spot_usd_hr"]) / float(vm["ondemand_usd_hr"])
            offers.append(_offer("sagemaker", itype, "us-east-1", shape.accelerator, shape.count, od * ratio, "spot",
                                 f"derived from {_src(vm)}", True,
                                 f"managed spot = SageMaker on-demand {od:.4f} x EC2 spot/on-demand "
                                 f"{vm['spot_usd_hr']}/{vm['ondemand_usd_hr']}"))

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
        for capacity, column in (("on_demand", "ondemand_usd_hr"), ("spot", "spot_usd_hr")):
            gce = _num(r[column])
            if gce is None:
                continue
            offers.append(_offer("vertex", itype, r["region"], acc, count, gce * VERTEX_PREMIUM, capacity,
                                 f"derived from {_src(r)}", True,
                                 f"Compute Engine {r['instance_type']} {capacity} {gce} x VERTEX_PREMIUM "
                                 f"{VERTEX_PREMIUM}" + (f"; {r['notes']}" if r["notes"] else ""), acc_mem))

    azure = [dict(r, source=_src(r)) for r in rows if r["cloud"] == "azure"] + EXTRA_AZURE
    for r in azure:
        shape = instances.FIXED[("azureml", r["instance_type"])]
        for capacity, column in (("on_demand", "ondemand_usd_hr"), ("spot", "spot_usd_hr")):
            price = _num(r[column])
            if price is not None:
                offers.append(_offer("azureml", r["instance_type"], r["region"], shape.accelerator, shape.count,
                                     price, capacity, r["source"], False,
                                     "Azure ML bills the VM price" + (f"; {r['notes']}" if r["notes"] else "")))
    return offers, excluded


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "prices.csv"
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    offers, excluded = seed(rows)
    catalog = build([("seed", [o.to_row() for o in offers])])
    for _row, reason in catalog.dropped:
        print(f"dropped: {reason}", file=sys.stderr)
    for reason in excluded:
        print(f"excluded: {reason}", file=sys.stderr)
    write_csv(catalog.rows, BUNDLED)
    print(f"wrote {len(catalog.rows)} offers to {BUNDLED}")
    assert all(o.accelerator is None or o.accelerator in accelerators.ACCELERATORS for o in catalog.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
