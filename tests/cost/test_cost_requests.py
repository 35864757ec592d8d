"""Request semantics (issue 16): exact counts, A100 40/80 GB apart, TPU chips, the Estimator never widens a request,
failover searches the same request everywhere and says why a provider had no offer; no internal notes in output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudml import Estimator, Resources, accelerators, providers
from cloudml.cli import main
from cloudml.errors import NoFeasibleOfferError, ValidationError
from cloudml.failover import Attempt, next_offer
from cloudml.spec import SourceCode, TrainingSpec

SAGEMAKER = {"bucket": "my-bucket", "role_arn": "arn:aws:iam::123456789012:role/R", "region": "us-east-1"}
VERTEX = {"project": "p", "location": "us-central1", "staging_bucket": "gs://b", "credentials": "anonymous"}


@pytest.mark.parametrize("text, name, count, at_least", [
    ("A100:1", "A100", 1, False), ("A100", "A100", 1, False), ("A100:1+", "A100", 1, True),
    ("a100-80gb:8", "A100-80GB", 8, False), ("A100_40GB:2", "A100", 2, False), ("tpu-v5e:8", "TPU-V5E", 8, False),
    ("tpu-v5p-8", "TPU-V5P", 4, False), ("v3-8", "TPU-V3", 4, False), ("tpu-v5litepod-4", "TPU-V5E", 4, False),
    ("tpu-v6e-8", "TPU-V6E", 8, False), ("h200:8", "H200", 8, False), ("trn2:16", "TRAINIUM2", 16, False),
])
def test_parse_request(text, name, count, at_least):
    req = accelerators.parse_request(text)
    assert (req.name, req.count, req.at_least) == (name, count, at_least)
    assert accelerators.parse(text) == (name, count)


@pytest.mark.parametrize("text, needle", [("A100:0", "at least 1"), ("A100:x+", "not a whole number"),
                                          ("tpu-v5p-8:4", "mixes a slice name with a count"), ("Z9", "unknown")])
def test_bad_requests_name_the_fix(text, needle):
    with pytest.raises(ValidationError, match=needle):
        accelerators.parse_request(text)


def cli(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_compare_a100x1_lists_only_one_gpu_offers_at_the_given_hours():
    code, out = cli("cost", "compare", "--accelerator", "A100:1", "--hours", "10", "--format", "json", "--limit", "0")
    assert code == 0, out
    plans = json.loads(out)["plans"]
    assert plans and {(p["accelerator"], p["accelerator_count"], p["instance_count"]) for p in plans} == {("A100", 1, 1)}
    assert all(p["hours"] == 10 for p in plans)


def test_compare_v100x1_offers_no_retired_machine():
    code, out = cli("cost", "compare", "--accelerator", "V100:1", "--any-capacity", "--format", "json", "--limit", "0")
    assert code == 0, out
    plans = json.loads(out)["plans"]
    assert plans and not any(p["instance_type"].endswith("s_v3") for p in plans)      # Azure NCv3 retired 2025-09-30
    assert all(p["lifecycle"] != "retired" for p in plans)
    assert json.loads(out)["price_age"].startswith("prices observed ")


def test_internal_notes_never_reach_user_output():
    code, out = cli("cost", "compare", "--accelerator", "A100:8", "--hours", "1", "--limit", "0")
    assert code == 0
    for internal in ("prices.csv", "hosting price", "fmbench", "unverified", "row read from", "kept to be dropped"):
        assert internal not in out
    assert "Prices observed" in out


def spec(tmp_path: Path, accelerator: str) -> TrainingSpec:
    (tmp_path / "train.py").write_text("print('hi')\n")
    return TrainingSpec(source=SourceCode("train.py", str(tmp_path)), framework="pytorch", framework_version="2.4",
                        resources=Resources(accelerator=accelerator))


def estimator(tmp_path: Path, accelerator: str, provider: str = "sagemaker") -> Estimator:
    (tmp_path / "train.py").write_text("print('hi')\n")
    return Estimator("train.py", str(tmp_path), framework="pytorch", framework_version="2.4", provider=provider,
                     provider_options=SAGEMAKER if provider == "sagemaker" else VERTEX,
                     resources=Resources(accelerator=accelerator))


def test_estimator_never_widens_a100x1_on_sagemaker(tmp_path):
    with pytest.raises(NoFeasibleOfferError) as caught:
        estimator(tmp_path, "A100:1").prepare()
    message = str(caught.value)
    assert "ask for A100:8 exactly, or A100:1+" in message
    assert "vertex a2-highgpu-1g in us-central1" in message                 # where the same request fits
    assert estimator(tmp_path, "A100:8").prepare().resources.instance_type == "ml.p4d.24xlarge"
    resolved = estimator(tmp_path, "A100:1+").prepare().resources
    assert (resolved.instance_type, resolved.accelerator) == ("ml.p4d.24xlarge", "A100:8")   # 8 is "at least 1"
    assert estimator(tmp_path, "A100-80GB:8").prepare().resources.instance_type == "ml.p4de.24xlarge"
    chosen = estimator(tmp_path, "A100:1", provider="vertex").prepare().resources
    assert (chosen.instance_type, chosen.accelerator) == ("a2-highgpu-1g", "A100:1")


def test_failover_searches_the_same_request_and_says_why_a_provider_had_none(tmp_path):
    job = spec(tmp_path, "A100:1")
    built = {"sagemaker": providers.get("sagemaker", **SAGEMAKER), "vertex": providers.get("vertex", **VERTEX)}
    skipped: list[Attempt] = []
    candidate = next_offer(job, ("sagemaker", "vertex"), built.get, set(), "job-r2", skipped, request=job.resources)
    assert candidate is not None and candidate.provider.name == "vertex"
    assert candidate.spec.resources.instance_type == "a2-highgpu-1g" and candidate.spec.resources.accelerator == "A100:1"
    (why,) = [a for a in skipped if a.provider == "sagemaker"]
    assert why.outcome == "skipped" and "no offer in us-east-1" in why.reason
    assert "A100 comes with 8 devices per instance (ml.p4d.24xlarge)" in why.reason


def test_failover_uses_the_original_request_not_the_resolved_one(tmp_path):
    job = spec(tmp_path, "A100:1+")
    resolved = TrainingSpec(source=job.source, framework="pytorch", framework_version="2.4",
                            resources=Resources(instance_type="ml.p4d.24xlarge", accelerator="A100:8"))
    built = {"sagemaker": providers.get("sagemaker", **SAGEMAKER), "vertex": providers.get("vertex", **VERTEX)}
    refused = {("sagemaker", "ml.p4d.24xlarge", None)}
    candidate = next_offer(resolved, ("sagemaker", "vertex"), built.get, refused, "job-r2", [], request=job.resources)
    assert candidate is not None and candidate.spec.resources.instance_type == "a2-highgpu-1g"   # 1 GPU fits "1+"


def test_json_output_carries_no_maintainer_notes_but_keeps_the_price_basis():
    code, out = cli("cost", "compare", "--accelerator", "V100:1", "--provider", "sagemaker", "--format", "json")
    assert code == 0
    plan = json.loads(out)["plans"][0]
    assert "notes" not in plan
    assert any("real-time hosting; training assumed to cost the same" in a for a in plan["assumptions"])
    code, out = cli("catalog", "show", "--provider", "sagemaker", "--format", "json")
    assert code == 0 and all("notes" not in row for row in json.loads(out))
