"""The CLI: tables, JSON/CSV round trips, exit codes, import discipline."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cost_helpers import row, write_rows

from cloudml.cli import main
from cloudml.cost import PlanRequest, Workload, plan, throughput

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output, result.stderr if hasattr(result, "stderr") else ""


def test_compare_a100x8_lists_all_three_services_with_totals():
    code, out, _ = run("cost", "compare", "--accelerator", "A100:8", "--hours", "10")
    assert code == 0, out
    for name in ("sagemaker", "vertex", "azureml", "Standard_ND96asr_v4", "a2-highgpu-8g", "ml.p4d.24xlarge"):
        assert name in out
    assert "271.97" in out          # 27.197 $/h x 10 h, the cheapest per hour, ranked first
    assert "10 h wall clock given" in out


def test_compare_json_round_trips_into_the_same_numbers():
    code, out, _ = run("cost", "compare", "--accelerator", "A100:8", "--hours", "10", "--format", "json")
    assert code == 0
    data = json.loads(out)["plans"]
    expected = plan(PlanRequest(accelerator="A100:8", workload=Workload(hours=10)))
    assert {d["provider"] for d in data} == {"sagemaker", "vertex", "azureml"}
    assert [(d["provider"], d["instance_type"], d["total_usd"], d["hourly_usd"], d["hours"]) for d in data] == [
        (p.offer.provider, p.offer.instance_type, p.total_usd, p.hourly_usd, p.hours) for p in expected]
    assert all(d["total_usd"] == pytest.approx(d["price_usd_hour"] * 10) for d in data)
    assert data[0]["rank"] == 1 and data[0]["assumptions"]


def test_compare_csv_carries_the_same_numbers():
    code, out, _ = run("cost", "compare", "-a", "A100:8", "--hours", "10", "--spot", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = plan(PlanRequest(accelerator="A100:8", spot=True, workload=Workload(hours=10)))
    assert [float(r["total_usd"]) for r in rows] == pytest.approx([p.total_usd for p in expected])
    assert {r["capacity"] for r in rows} == {"spot"}


def test_tpu_request_returns_vertex_offers():
    code, out, _ = run("cost", "compare", "--accelerator", "tpu-v5e:8", "--hours", "10", "--format", "json")
    assert code == 0
    data = json.loads(out)["plans"]
    assert data and {d["provider"] for d in data} == {"vertex"}
    assert data[0]["instance_type"] == "ct5lp-hightpu-8t" and data[0]["total_usd"] == pytest.approx(110.4)


@pytest.mark.parametrize("args, needles", [
    (["--accelerator", "A100:0"], ["'A100:0'", "count must be at least 1", "NAME:N+ (at least N)"]),
    (["--accelerator", "FOO"], ["'FOO'", "unknown accelerator", "A100-80GB"]),
    (["--accelerator", "A100:x"], ["'x'", "not a whole number"]),
    (["--hours", "-5"], ["--hours", "-5.0", "x>0"]),
    (["--provider", "oracle"], ["'oracle'", "sagemaker, vertex, azureml"]),
    (["--workload-tflop", "1e6", "--hours", "3"], ["exactly one way", "give one of"]),
])
def test_bad_input_exits_2_naming_the_value(args, needles):
    code, out, _ = run("cost", "compare", *args)
    assert code == 2
    for needle in needles:
        assert needle in out


def test_nothing_feasible_exits_3_with_closest():
    code, out, _ = run("cost", "compare", "--accelerator", "tpu-v3:8", "--hours", "1")
    assert code == 3
    assert "no catalog offer satisfies it" in out
    assert "vertex:cloud-tpu TPU-V3x4" in out and "4 x TPU-V3, TPU-V3:8 requested" in out
    assert "TPU-V3 comes with 4 chips per instance (cloud-tpu): ask for TPU-V3:4 exactly" in out


def test_plan_ranks_by_cost_to_finish_and_marks_pareto():
    code, out, _ = run("cost", "plan", "--workload-tflop", "3.2e6", "--min-gpu-mem", "80", "--format", "json",
                       "--limit", "0")
    assert code == 0
    data = json.loads(out)["plans"]
    totals = [d["total_usd"] for d in data]
    assert totals == sorted(totals)
    assert any(d["pareto"] for d in data) and all(d["accelerator_memory_gib"] >= 80 for d in data)
    per_hour = plan(PlanRequest(min_accelerator_memory_gib=80, workload=Workload(tflop=3.2e6)))
    assert per_hour[0].offer.instance_type == "Standard_NC24ads_A100_v4"      # 1 x A100-80GB at $3.673/h
    best = data[0]
    rate = throughput.effective_tflops(best["accelerator"], "transformer", 0.4) * best["accelerator_count"]
    rate *= throughput.scaling(best["accelerator_count"], 1, "transformer")
    assert best["total_usd"] == pytest.approx(best["price_usd_hour"] * 3.2e6 / rate / 3600)
    assert best["instance_type"] != per_hour[0].offer.instance_type        # cheapest to finish is not cheapest/h


def test_plan_takes_the_workload_class_and_rules_out_offers_that_cannot_hold_7b():
    code, out, _ = run("cost", "plan", "--params", "7e9", "--tokens", "1e11", "--workload-class", "transformer",
                       "--accelerator", "L4:1", "--format", "json")
    assert code == 3 and "does not fit in memory" in out and "L4 has 24 GiB" in out
    code, out, _ = run("cost", "plan", "--params", "7e9", "--tokens", "1e11", "--limit", "0", "--format", "json")
    plans = json.loads(out)["plans"]
    assert plans and not any(p["accelerator_count"] == 1 and p["accelerator_memory_gib"] <= 80 for p in plans)
    code, out, _ = run("cost", "plan", "--workload-tflop", "1e6", "--workload-class", "vision", "-a", "H100:8")
    assert code == 0 and "for vision" in out
    code, out, _ = run("cost", "plan", "--workload-tflop", "1e6", "--workload-class", "audio")
    assert code == 2


def test_plan_table_shows_assumptions():
    code, out, _ = run("cost", "plan", "--params", "7e9", "--tokens", "1e11", "-a", "H100:8", "--efficiency", "0.35")
    assert code == 0
    assert "compute = 6 x 7e+09 params" in out and "efficiency 0.35" in out and "989 TFLOPS peak" in out
    assert "fitted to MLPerf Training" in out and "memory per device" in out


def test_instances_list_filters():
    code, out, _ = run("instances", "list", "--provider", "azure", "--min-vcpus", "90", "--format", "json")
    assert code == 0
    data = json.loads(out)["plans"]
    assert data and all(d["provider"] == "azureml" and float(d["vcpus"]) >= 90 for d in data)


def test_catalog_show_and_validate(tmp_path):
    code, out, _ = run("catalog", "show", "--provider", "vertex", "--format", "csv")
    assert code == 0 and out.startswith("provider,instance_type,region")
    assert {r["provider"] for r in csv.DictReader(io.StringIO(out))} == {"vertex"}
    code, out, _ = run("catalog", "validate")
    assert code == 0 and "0 dropped" in out and "prices observed 2026-11-23 to 2026-12-01" in out
    traps = write_rows(tmp_path / "traps.csv", [
        row("vertex", "ct6e-standard-1t", "TPU-V6E", 1, 700.0, region="asia-east1"),
        row("azureml", "Standard_ND96isr_H100_v5", "H100", 12, 98.32, region="westus"),
        row("azureml", "Standard_NC4as_T4_v3", "T4", 1, 9.9, capacity="spot", region="eastus"),
    ])
    code, out, _ = run("catalog", "validate", "--catalog", str(traps))
    assert code == 1
    assert "known placeholder" in out and "has 8 x H100, row says 12" in out and "is not below on-demand 0.526" in out
    assert "3 dropped" in out and "28 retired (never offered)" in out


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out_file = tmp_path / "pareto.png"
    code, out, _ = run("cost", "plot", "--workload-tflop", "1e6", "--out", str(out_file))
    assert code == 0, out
    assert out_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "Pareto front" in out


def test_compare_imports_no_cloud_sdk_torch_or_tensorflow(tmp_path):
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"     # namespace stubs a .pth file loads at startup (google) are not ours
        "from cloudml.cli import main\n"
        "try:\n"
        "    main(['cost', 'compare', '--accelerator', 'A100:8', '--hours', '24', '--spot'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = ('boto3', 'botocore', 'google', 'azure', 'torch', 'tensorflow', 'sagemaker', 'matplotlib')\n"
        "new = set(sys.modules) - before\n"
        "print('LOADED:' + ','.join(sorted(m for m in new if m.split('.')[0] in heavy)))\n"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Standard_ND96asr_v4" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED:"
