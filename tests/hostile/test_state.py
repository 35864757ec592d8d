"""Probes on the local provider's records: a corrupt record is reported on its own job or endpoint and never
breaks its neighbours, ``cleanup`` still removes it; records are written atomically and owner-only; concurrent
submits of one name make one job and one clear error; no half-made folder shows up as a job."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudml import providers
from cloudml.cli import main
from cloudml.errors import ValidationError
from cloudml.providers.base import EndpointState, JobState
from tests.conformance.suite import Rig
from tests.hostile.conftest import TELLTALE, estimator, project, race_submits


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return project(tmp_path / "src", {"train.py": TELLTALE})


@pytest.fixture
def two_jobs(local_rig: Rig, src: Path) -> tuple[Rig, list[str]]:
    names = []
    for i in range(2):
        job = estimator(local_rig, src, hyperparameters={"i": i}).fit(logs=False)
        names.append(job.name)
    return local_rig, names


def _root(rig: Rig) -> Path:
    return Path(rig.options["root"])


@pytest.mark.parametrize("damage", [b"", b'{"state": "Runn', b"[1, 2]", b"\xff\xfe\x00", b'"just a string"'])
def test_a_corrupt_state_json_is_reported_and_the_other_jobs_still_list(two_jobs, damage: bytes) -> None:
    rig, (bad, good) = two_jobs
    (_root(rig) / "jobs" / bad / "state.json").write_bytes(damage)
    local = providers.get("local", **rig.options)
    infos = {i.name: i for i in local.list_jobs()}
    assert infos[good].state == JobState.COMPLETED
    assert infos[bad].state == JobState.FAILED and "state.json" in (infos[bad].reason or "")
    result = CliRunner().invoke(main, ["jobs", "list", "-p", "local", "-C", f"root={rig.options['root']}"])
    assert result.exit_code == 0, result.output
    assert good in result.output


def test_a_truncated_job_json_is_reported_on_that_job(two_jobs) -> None:
    rig, (bad, good) = two_jobs
    path = _root(rig) / "jobs" / bad / "job.json"
    path.write_bytes(path.read_bytes()[:40])
    local = providers.get("local", **rig.options)
    info = local.describe_job(bad)
    assert info.state == JobState.FAILED and "job.json" in (info.reason or "") and "corrupt" in info.reason
    assert {i.name for i in local.list_jobs()} == {bad, good}


def test_a_job_json_missing_fields_is_reported_not_a_key_error(two_jobs) -> None:
    rig, (bad, _) = two_jobs
    (_root(rig) / "jobs" / bad / "job.json").write_text('{"name": "x"}')
    info = providers.get("local", **rig.options).describe_job(bad)
    assert info.state == JobState.FAILED and "lacks" in (info.reason or "")


def test_a_corrupt_endpoint_json_is_listed_and_cleanup_removes_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name, body in (("broken-ep", b'{"name": "broken-ep", "pi'), ("odd-ep", b"[]")):
        (root / "endpoints" / name).mkdir(parents=True)
        (root / "endpoints" / name / "endpoint.json").write_bytes(body)
    local = providers.get("local", root=str(root))
    infos = {e.name: e for e in local.list_endpoints()}
    assert set(infos) == {"broken-ep", "odd-ep"}
    assert all(e.state == EndpointState.FAILED and "corrupt" in (e.reason or "") for e in infos.values())
    listed = CliRunner().invoke(main, ["endpoints", "list", "-p", "local", "-C", f"root={root}"])
    assert listed.exit_code == 0, listed.output
    cleaned = CliRunner().invoke(main, ["cleanup", "-p", "local", "-C", f"root={root}"])
    assert cleaned.exit_code == 0, cleaned.output
    assert local.list_endpoints() == [] and not any((root / "endpoints").iterdir())


def test_records_are_owner_only_and_written_without_leftover_temporaries(local_rig: Rig, src: Path) -> None:
    job = estimator(local_rig, src, hyperparameters={"api_token": "tok-123456789"}).fit(logs=False)
    job_dir = _root(local_rig) / "jobs" / job.name
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    for rel in ("job.json", "state.json", "logs.txt", "supervisor.log",
                "nodes/algo-1/input/config/hyperparameters.json", "output/model.tar.gz"):
        mode = stat.S_IMODE((job_dir / rel).stat().st_mode)
        assert mode & 0o077 == 0, f"{rel} is readable by others: {oct(mode)}"
    assert stat.S_IMODE((_root(local_rig) / "jobs").stat().st_mode) == 0o700
    assert not [p for p in (_root(local_rig) / "jobs").iterdir() if p.name.startswith(".")]
    assert not list(job_dir.glob("*.tmp")) and not list(job_dir.glob(".*.tmp"))


def test_concurrent_submits_of_one_name_with_different_specs_make_one_job_and_one_error(local_rig: Rig,
                                                                                        src: Path) -> None:
    results = race_submits(local_rig, src, "raced-job", [{"hyperparameters": {"who": i}} for i in range(2)])
    errors = [r for r in results.values() if isinstance(r, Exception)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], ValidationError) and errors[0].field == "job_name"
    assert "different spec" in str(errors[0])
    local = providers.get("local", **local_rig.options)
    (info,) = local.list_jobs()
    winner = next(i for i, r in results.items() if not isinstance(r, Exception))
    assert info.hyperparameters == {"who": winner}, "the job holds the winner's spec, not a mix"
    results[winner].wait(logs=False)  # type: ignore[attr-defined]
    assert not [p.name for p in (_root(local_rig) / "jobs").iterdir() if "creating" in p.name]


def test_concurrent_identical_submits_are_one_job(local_rig: Rig, src: Path) -> None:
    got = list(race_submits(local_rig, src, "same-job", [{"hyperparameters": {"same": True}}] * 3).values())
    assert len(got) == 3 and {j.name for j in got} == {"same-job"}  # type: ignore[attr-defined]
    local = providers.get("local", **local_rig.options)
    assert [i.name for i in local.list_jobs()] == ["same-job"]
    got[0].wait(logs=False)  # type: ignore[attr-defined]


def test_a_leftover_creating_folder_is_never_listed_as_pending(local_rig: Rig, tmp_path: Path) -> None:
    jobs = _root(local_rig) / "jobs"
    (jobs / ".half-made.0123.creating").mkdir(parents=True)
    (jobs / ".half-made.0123.creating" / "job.json").write_text(json.dumps({"name": "half-made"}))
    (jobs / ".half-made.0123.creating" / "state.json").write_text('{"state": "Pending"}')
    assert providers.get("local", **local_rig.options).list_jobs() == []


def test_a_truncated_cached_bundle_is_rebuilt_not_uploaded(cloud: Rig, src: Path) -> None:
    from cloudml import packaging
    from cloudml.config import cache_dir

    bundle = packaging.build(src, cache_dir() / "bundles", entry_point="train.py")
    bundle.path.write_bytes(bundle.path.read_bytes()[: bundle.size // 2])   # a crash or a full disk did this
    job = estimator(cloud, src).fit(logs=False)
    assert job.state == JobState.COMPLETED
    assert bundle.path.stat().st_size == bundle.size, "the damaged cache entry was replaced"


def test_attach_never_uses_a_half_extracted_code_cache(local_rig: Rig, src: Path) -> None:
    import shutil

    from cloudml import Estimator
    from cloudml.config import cache_dir

    job = estimator(local_rig, src).fit(logs=False)
    shutil.rmtree(src)   # attach must fetch the code from the job's bundle
    leftovers = cache_dir() / "attached" / f".{job.name}.crashed"
    leftovers.mkdir(parents=True)
    again = Estimator.attach(job.name, provider="local", provider_options=local_rig.options)
    code = Path(again.spec.source.source_dir)
    assert (code / "train.py").is_file() and not (code / "cloudml_runtime").exists()
    assert code == cache_dir() / "attached" / job.name
