"""Helpers for the cost tests: catalog rows and a small fixed catalog (imported by the test modules)."""

from __future__ import annotations

import csv
from pathlib import Path

from cloudml.cost.catalog import FIELDS

HEADER = list(FIELDS)


def row(provider, instance_type, accelerator, count, price, capacity="on_demand", region="r1", **extra):
    base = {"provider": provider, "instance_type": instance_type, "region": region, "accelerator": accelerator or "",
            "accelerator_count": str(count), "price_usd_hour": str(price), "capacity": capacity,
            "source": "test fixture", "observed_at": "2026-01-01", "derived": "false"}
    base.update({k: str(v) for k, v in extra.items()})
    return base


def write_rows(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(r)
    return path


# Instance types unknown to the instance table, so counts are free; hand arithmetic in test_planner.py.
FIXED_ROWS = [
    row("sagemaker", "test.v100x8", "V100", 8, 24.0, vcpus=64, memory_gib=488),
    row("vertex", "test.a100x8", "A100", 8, 30.0, vcpus=96, memory_gib=680),
    row("azureml", "test.h100x8", "H100", 8, 60.0, vcpus=96, memory_gib=1900),
    row("azureml", "test.h100x8", "H100", 8, 20.0, capacity="spot", vcpus=96, memory_gib=1900),
    row("sagemaker", "test.cpu", "", 0, 0.5, vcpus=4, memory_gib=16),
]


