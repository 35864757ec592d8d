"""``cloudml train --dry-run``: prints the offer, the estimate and the exact request ``submit`` sends, sending nothing.

Every provider whose class implements ``Provider.training_request`` is checked the same way: the request printed
by ``--dry-run --json`` equals what the provider's ``submit`` really sent for the same job name (as its rig
recorded it). A provider joins by adding an entry to ``DRY_RUN_RIGS``: a function ``(tmp_path, pytest request)
-> DryRunRig`` (``request.getfixturevalue("<its rig fixture>")`` reaches its rig). For example, SageMaker:

    def _sagemaker(tmp_path, request):
        rig = request.getfixturevalue("sagemaker_rig")
        def submitted(name):
            return next(b for b in rig.sent("CreateTrainingJob") if b["TrainingJobName"] == name)
        def normalize(req):   # the cloudml-created tag holds the submission time
            return {**req, "Tags": [t for t in req["Tags"] if t["Key"] != "cloudml-created"]}
        def finish(name):     # the rig's no-orphan check wants the job ended
            Job(providers.get("sagemaker", **rig.provider_options()), name).wait(logs=False)
        return DryRunRig("sagemaker", rig.provider_options(), submitted, normalize=normalize, finish=finish,
                         job={"instance_type": "ml.m5.xlarge"})

(checked against the SageMaker rig with a prototype ``training_request``: the requests are equal.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloudml import providers
from cloudml.commands._common import jsonable, masked
from cloudml.errors import NotFoundError
from cloudml.providers.base import Provider
from tests.cli.helpers import configured_provider, regression_job
from tests.rigs.azureml_fixtures import azurite, fake_aml, provider_options  # noqa: F401  (the Azure ML rig)
from tests.rigs.sagemaker_fixtures import _sagemaker_server, sagemaker_rig  # noqa: F401  (fixtures)
from tests.rigs.vertex_fixtures import (  # noqa: F401  (fixtures)
    _vertex_servers,
    fake_vertex,
    gcs_emulator,
    vertex_options,
    vertex_rig,
)


@dataclass
class DryRunRig:
    provider: str
    options: dict[str, Any]
    #: job name -> the training request the provider's service received for it (as the rig saw it)
    submitted: Callable[[str], dict[str, Any]]
    #: extra job YAML keys the provider needs (a pinned instance type, a framework version ...)
    job: dict[str, str] = field(default_factory=dict)
    #: local folder -> the URI the job reads it from (``None``: the local path; the provider uploads it)
    stage: Callable[[Path], str] | None = None
    #: drops or fixes values set at submission time (timestamps) on both sides before comparing
    normalize: Callable[[dict[str, Any]], dict[str, Any]] = lambda request: request
    #: called after the submitted request was read: let the job finish or clean it up
    finish: Callable[[str], None] = lambda name: None


def _local(tmp_path: Path, request: Any) -> DryRunRig:
    root = tmp_path / "local"

    def submitted(name: str) -> dict[str, Any]:
        record = json.loads((root / "jobs" / name / "job.json").read_text())
        record.pop("created_at")
        return record

    def finish(name: str) -> None:
        local = providers.get("local", root=str(root))
        deadline = time.monotonic() + 120
        while not local.describe_job(name).state.terminal and time.monotonic() < deadline:
            time.sleep(0.1)

    return DryRunRig("local", {"root": str(root)}, submitted, finish=finish)


def _vertex(tmp_path: Path, request: Any) -> DryRunRig:
    rig = request.getfixturevalue("vertex_rig")
    options = request.getfixturevalue("vertex_options")

    def submitted(name: str) -> dict[str, Any]:
        posts = [r.body for r in rig.calls("POST", r"/customJobs$") if r.body.get("displayName") == name]
        assert len(posts) == 1, "exactly one CustomJob was created"
        return posts[0]

    def wire(value: Any) -> Any:  # proto JSON sends int64 as strings: compare numbers as numbers
        if isinstance(value, dict):
            return {k: wire(v) for k, v in value.items()}
        if isinstance(value, list):
            return [wire(v) for v in value]
        return int(value) if isinstance(value, str) and value.isdigit() else value

    def normalize(body: dict[str, Any]) -> dict[str, Any]:  # the cloudml-created label holds the submit time
        labels = {k: v for k, v in body.get("labels", {}).items() if k != "cloudml-created"}
        return wire({**body, "labels": labels})

    def finish(name: str) -> None:
        from cloudml.jobs import Job

        Job(providers.get("vertex", **options), name).wait(timeout=120, logs=False)

    return DryRunRig("vertex", options, submitted, normalize=normalize, finish=finish,
                     job={"instance_type": "n1-standard-4"})


def _sagemaker(tmp_path: Path, request: Any) -> DryRunRig:
    rig = request.getfixturevalue("sagemaker_rig")

    def submitted(name: str) -> dict[str, Any]:
        sent = [b for b in rig.sent("CreateTrainingJob") if b["TrainingJobName"] == name]
        assert len(sent) == 1, "exactly one training job was created"
        return sent[0]

    def normalize(req: dict[str, Any]) -> dict[str, Any]:  # the cloudml-created tag holds the submission time
        return {**req, "Tags": [t for t in req["Tags"] if t["Key"] != "cloudml-created"]}

    def finish(name: str) -> None:  # the rig's no-orphan check wants the job ended
        from cloudml.jobs import Job

        Job(providers.get("sagemaker", **rig.provider_options()), name).wait(timeout=120, logs=False)

    return DryRunRig("sagemaker", rig.provider_options(), submitted, normalize=normalize, finish=finish,
                     job={"instance_type": "ml.m5.xlarge"})


def _azureml_essentials(request: dict[str, Any]) -> dict[str, Any]:
    """What both shapes say: ``training_request`` (the dict handed to azure-ai-ml's ``command()``) and the REST
    job the fake Azure ML received (the SDK resolves code and environment to asset ids on the way)."""
    if "jobType" in request.get("properties", {}):
        p = request["properties"]
        return {"command": p["command"], "inputs": {k: v["uri"] for k, v in (p.get("inputs") or {}).items()},
                "outputs": {k: v["uri"] for k, v in (p.get("outputs") or {}).items()},
                "instance_count": p["resources"]["instanceCount"], "experiment": p["experimentName"],
                "tags": {k: v for k, v in p["tags"].items() if k != "cloudml-created"},
                "properties": {k: v for k, v in p["properties"].items() if k.startswith("cloudml.")},
                "environment_variables": p.get("environmentVariables") or {}}
    return {"command": request["command"], "inputs": {k: v["path"] for k, v in request["inputs"].items()},
            "outputs": {k: v["path"] for k, v in request["outputs"].items()},
            "instance_count": request["instance_count"], "experiment": request["experiment_name"],
            "tags": {k: v for k, v in request["tags"].items() if k != "cloudml-created"},
            "properties": request["properties"], "environment_variables": request["environment_variables"]}


def _azureml(tmp_path: Path, request: Any) -> DryRunRig:
    fake = request.getfixturevalue("fake_aml")
    options = request.getfixturevalue("provider_options")
    return DryRunRig("azureml", options, submitted=fake.job, normalize=_azureml_essentials,
                     job={"instance_type": "Standard_D2s_v3"})


DRY_RUN_RIGS: dict[str, Callable[[Path, Any], DryRunRig]] = {
    "azureml": _azureml,
    "local": _local,
    "sagemaker": _sagemaker,
    "vertex": _vertex,
}


def test_every_built_in_provider_shows_its_request() -> None:
    for name in providers.registry:
        assert providers.get_class(name).training_request is not Provider.training_request, name
    assert set(DRY_RUN_RIGS) == set(providers.registry), "every provider's dry run is checked against its rig"


@pytest.mark.parametrize("provider", sorted(DRY_RUN_RIGS))
def test_dry_run_request_equals_what_submit_sends(provider, cli, tmp_path, request):
    rig = DRY_RUN_RIGS[provider](tmp_path, request)
    job_yaml = regression_job(tmp_path, **rig.job)
    if rig.stage is not None:
        job_yaml = regression_job(tmp_path, **{**rig.job, "inputs": f"{{training: '{rig.stage(tmp_path / 'data')}'}}"})
    name = f"dry-run-{provider}-{int(time.time() * 1000) % 10**8}"
    common = [str(job_yaml), "--provider", provider, "--set", f"job_name={name}"]
    with configured_provider(provider, rig.options):
        r = cli("--json", "train", *common, "--dry-run")
        assert r.code == 0, r.stderr
        plan = r.json
        assert plan["job_name"] == name and plan["provider"] == provider
        with pytest.raises(NotFoundError):  # nothing was submitted
            providers.get(provider).describe_job(name)

        r = cli("--json", "train", *common, "--detach")
        assert r.code == 0, r.stderr
        sent = rig.submitted(name)
        rig.finish(name)
    assert rig.normalize(plan["request"]) == rig.normalize(masked(jsonable(sent)))


def test_local_dry_run_shows_offer_estimate_and_request(cli, tmp_path):
    from cloudml.providers import _local_namespace

    root = tmp_path / "local"
    job_yaml = regression_job(tmp_path, max_run_seconds="7200")
    venvs = tmp_path / "venvs"
    r = cli("train", str(job_yaml), "-C", f"root={root}", "-C", f"venv_cache={venvs}", "--set", "job_name=snap-1",
            "--dry-run")
    assert r.code == 0, r.stderr
    text = r.stdout.replace(str(tmp_path), "<tmp>")
    assert "job       snap-1 on local" in text
    assert "offer     local machine (no charge) x 1" in text
    assert "estimate  2.00 h (worst case: max_run_seconds) -> $0.00" in text
    assert "dry run: nothing was uploaded or submitted" in text
    request = json.loads(text[text.index("{"):text.rindex("}") + 1])
    bundle = request["code_uri"].rsplit("/", 1)[1]
    assert request == {  # the snapshot: the job.json the local provider would write, less created_at
        "name": "snap-1", "code_uri": f"<tmp>/local/bundles/{bundle}", "framework": "pytorch",
        "framework_version": "2.4", "entry_point": "train.py",
        "source_dir": str((Path(__file__).resolve().parents[1] / "projects" / "regression").resolve()),
        "hyperparameters": {"epochs": 5, "lr": 0.5}, "environment": {}, "channels": {"training": "<tmp>/data"},
        "instance_count": 1, "processes_per_node": "auto", "distribution": "none",
        "checkpoint_dir": "<tmp>/local/jobs/snap-1/checkpoints", "venv_cache": "<tmp>/venvs", "tags": {},
        "max_run_seconds": 7200, "namespace": _local_namespace.mode()[0],   # "root" | "userns" | None (this host)
    }
    assert not root.exists(), "a dry run writes nothing to the provider"
    r = cli("--json", "train", str(job_yaml), "-C", f"root={root}", "--dry-run", "--hours", "0.5")
    assert r.json["estimated_hours"] == 0.5 and r.json["hours_basis"] == "from --hours"


def test_dry_run_masks_secret_values(cli, tmp_path):
    job_yaml = regression_job(tmp_path)
    r = cli("--json", "train", str(job_yaml), "-C", f"root={tmp_path / 'l'}", "--dry-run",
            "--set", "environment.API_TOKEN=hunter2-secret", "--set", "hyperparameters.db_password=pw-123456")
    assert r.code == 0, r.stderr
    assert "hunter2-secret" not in r.stdout and "pw-123456" not in r.stdout
    assert r.json["request"]["environment"]["API_TOKEN"] == "****"


def test_dry_run_on_a_cloud_provider_prices_the_planned_offer(cli, tmp_path):
    """The planner picks the instance from the catalog with no network; the request itself comes from the
    provider."""
    name = "sagemaker"
    job_yaml = regression_job(tmp_path, provider=name)
    r = cli("--json", "train", str(job_yaml), "-C", "bucket=my-bucket", "-C", "role_arn=arn:aws:iam::123456789012:role/R",
            "-C", "region=us-east-1", "--set", "resources.max_total_usd=5", "--set", "max_run_seconds=3600",
            "--set", "inputs.training=s3://my-bucket/data/",
            "--dry-run")
    assert r.code == 0, r.stderr
    plan = r.json
    assert plan["offer"]["instance_type"] == plan["instance_type"]
    assert plan["estimated_cost_usd"] == pytest.approx(plan["offer"]["price_usd_hour"] * plan["estimated_hours"])
