"""Probes: names that would reach outside the provider's folders or break its requests are refused, naming the
field, before any path, request or deletion (issue 14: ``cloudml endpoints delete ../jobs -p local`` deleted
every job and model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudml import Estimator, providers
from cloudml.cli import main
from cloudml.endpoints import Endpoint
from cloudml.errors import ValidationError
from tests.conformance.suite import PROJECTS, Rig
from tests.hostile.conftest import estimator

HOSTILE = ["../jobs", "../../x", ".", "..", "a/b", "a\\b", "x\x00y", "new\nline", "tab\tname", " lead", "-dash",
           "dot.dot..", "a" * 64, ""]


@pytest.fixture
def populated_root(tmp_path: Path) -> Path:
    """A local root with a job, a model and a folder outside it that a traversal would reach."""
    root = tmp_path / "root"
    (root / "jobs" / "precious-job").mkdir(parents=True)
    (root / "jobs" / "precious-job" / "job.json").write_text("{}")
    (root / "bundles").mkdir()
    (root / "bundles" / "b.tar.gz").write_bytes(b"x")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("keep")
    return root


def _snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("name", ["../jobs", "../../x", ".", "..", "../bundles", "a/../../x"])
def test_cli_endpoint_delete_with_a_traversal_name_is_refused_and_deletes_nothing(populated_root: Path,
                                                                                  name: str) -> None:
    before = _snapshot(populated_root.parent)
    result = CliRunner().invoke(main, ["endpoints", "delete", name, "-p", "local", "-C", f"root={populated_root}"])
    assert result.exit_code == 2, result.output
    assert "endpoint_name" in result.output and "not a valid name" in result.output
    assert _snapshot(populated_root.parent) == before, "nothing was deleted"


@pytest.mark.parametrize("command", [["jobs", "describe"], ["jobs", "logs"], ["jobs", "stop"], ["jobs", "wait"],
                                     ["endpoints", "describe"], ["endpoints", "predict"]])
def test_cli_name_arguments_are_checked_before_use(populated_root: Path, command: list[str]) -> None:
    extra = ['{"instances": [[1]]}'] if command[-1] == "predict" else []
    result = CliRunner().invoke(main, [*command, "../jobs", *extra, "-p", "local", "-C", f"root={populated_root}"])
    assert result.exit_code == 2, result.output
    assert "_name" in result.output and "path separator" in result.output


@pytest.mark.parametrize("name", HOSTILE)
def test_job_names_are_refused_naming_the_field(name: str) -> None:
    est = Estimator("train.py", PROJECTS / "regression", provider="local")
    with pytest.raises(ValidationError) as caught:
        est.prepare(job_name=name) if name else est.prepare(job_name="\x7f")
    assert caught.value.field == "job_name"


@pytest.mark.parametrize("name", ["../evil", "a/b", "x\x00", "-lead", "a" * 41, "bad name"])
def test_base_job_name_is_checked_where_it_is_given(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Estimator("train.py", PROJECTS / "regression", provider="local", base_job_name=name)
    assert caught.value.field == "base_job_name"


def test_the_local_provider_builds_no_path_from_an_unchecked_name(tmp_path: Path) -> None:
    local = providers.get("local", root=str(tmp_path / "root"))
    for call in (lambda: local.describe_job("../x"), lambda: local.delete_endpoint(".."),
                 lambda: local.describe_endpoint("a/b"), lambda: local.read_logs("../../etc"),
                 lambda: local.stop_job(".")):
        with pytest.raises(ValidationError):
            call()
    assert not (tmp_path / "root").exists(), "no folder was made for a refused name"


def test_hand_made_folders_with_bad_names_are_skipped_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "jobs" / "bad name").mkdir(parents=True)
    (root / "jobs" / "bad name" / "job.json").write_text("{}")
    (root / "endpoints" / "-x").mkdir(parents=True)
    (root / "endpoints" / "-x" / "endpoint.json").write_text("{}")
    local = providers.get("local", root=str(root))
    assert local.list_jobs() == [] and local.list_endpoints() == []


def test_endpoint_handles_refuse_bad_names_on_every_provider(cloud: Rig) -> None:
    prov = providers.get(cloud.provider, **cloud.options)
    before = cloud.request_count() if cloud.request_count else None
    for name in ("../jobs", "a/b", "x\x00y"):
        with pytest.raises(ValidationError) as caught:
            Endpoint(prov, name)
        assert caught.value.field == "endpoint_name"
    if before is not None:
        assert cloud.request_count() == before, "a refused name made a request"


def test_fit_with_a_bad_job_name_sends_nothing_on_every_provider(cloud: Rig, tmp_path: Path) -> None:
    before = cloud.request_count() if cloud.request_count else None
    est = estimator(cloud, PROJECTS / "regression")
    for name in ("../x", "name/with/slashes", "nul\x00"):
        with pytest.raises(ValidationError) as caught:
            est.fit(job_name=name, wait=False)
        assert caught.value.field == "job_name"
    with pytest.raises(ValidationError) as caught:
        Estimator.attach("../x", provider=cloud.provider, provider_options=cloud.options)
    assert caught.value.field == "job_name"
    if before is not None:
        assert cloud.request_count() == before, "a refused name made a request"


def test_deploy_with_a_bad_endpoint_name_is_refused(tmp_path: Path) -> None:
    from cloudml.spec import DeploySpec

    for name in ("../jobs", ".", "a/b"):
        with pytest.raises(ValidationError) as caught:
            DeploySpec(model_uri="m.tar.gz", endpoint_name=name)
        assert caught.value.field == "endpoint_name"


def test_cli_json_error_for_a_bad_name_names_the_field(populated_root: Path) -> None:
    result = CliRunner().invoke(main, ["--json", "endpoints", "delete", "../jobs", "-p", "local",
                                       "-C", f"root={populated_root}"])
    assert result.exit_code == 2
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "endpoint_name" in text
    assert json.dumps({"deleted": ["../jobs"]}) not in result.output
