"""``cloudml cleanup`` on every rig: endpoints made by deploy are found by their cloudml tags/labels; ``--dry-run``
lists without deleting; ``--older-than`` keeps young ones but an expired ``ttl_seconds`` endpoint goes anyway;
without ``--older-than`` every cloudml-created resource goes; a SageMaker model or config left without its endpoint
(an orphan) is found too."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cloudml import packaging
from cloudml.cli import main
from cloudml.providers.base import CloudResource
from cloudml.spec import DeploySpec, SourceCode
from tests.conformance.suite import PROJECTS, regression_artifact


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The regression project's model.tar.gz with known weights (y = 2x + 1)."""
    return regression_artifact(tmp_path_factory.mktemp("artifact"))


def cleanup(provider: Any, options: dict[str, Any] | None, args: str) -> list[dict[str, Any]]:
    """``cloudml --json cleanup -p NAME -C k=v ... ARGS``; with ``options`` None (options the command line cannot
    carry, such as Azure's credential object) the command's own ``run`` on ``provider``."""
    if options is None:
        from cloudml.commands.cleanup import parse_age, run

        argv = shlex.split(args)
        age = parse_age(argv[argv.index("--older-than") + 1]) if "--older-than" in argv else None
        return run([provider], age, "--dry-run" in argv)
    provider = getattr(provider, "name", provider)
    argv = ["--json", "cleanup", "-p", provider, *[f"-C{k}={v}" for k, v in options.items()], *shlex.split(args)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def deploy_two(provider: Any, artifact: Path, instance_type: str | None) -> None:
    for name, ttl in (("keep-ep", None), ("ttl-ep", 1)):
        provider.deploy(DeploySpec(model_uri=str(artifact), source=SourceCode("inference.py", str(PROJECTS / "regression")),
                                   framework_version="2.4", instance_type=instance_type, endpoint_name=name,
                                   ttl_seconds=ttl))


def check_cleanup(provider: Any, options: dict[str, Any] | None, artifact: Path, instance_type: str | None) -> None:
    deploy_two(provider, artifact, instance_type)
    try:
        time.sleep(1.2)   # ttl-ep's cloudml-expires passes
        rows = cleanup(provider, options, "--older-than 1d --dry-run")
        assert [(r["name"], r["why"], r["action"]) for r in rows] == [("ttl-ep", "expired", "would delete")]
        assert {e.name for e in provider.list_endpoints()} == {"keep-ep", "ttl-ep"}, "dry run deletes nothing"
        rows = cleanup(provider, options, "--older-than 1d")
        assert [(r["name"], r["action"]) for r in rows] == [("ttl-ep", "deleted")]
        assert [e.name for e in provider.list_endpoints()] == ["keep-ep"], "young endpoints are kept"
        rows = cleanup(provider, options, "")
        assert [(r["kind"], r["name"], r["why"], r["action"]) for r in rows] == [
            ("endpoint", "keep-ep", "cloudml-created", "deleted")]
        assert provider.list_endpoints() == [] and provider.list_cloudml_resources() == []
        assert cleanup(provider, options, "") == []
    finally:
        for name in ("keep-ep", "ttl-ep"):
            provider.delete_endpoint(name)


def test_cleanup_on_sagemaker(sagemaker_rig, artifact: Path) -> None:
    from cloudml.providers.sagemaker import SageMakerProvider

    options = sagemaker_rig.provider_options()
    check_cleanup(SageMakerProvider(**options), options, artifact, "ml.m5.large")


def test_cleanup_finds_sagemaker_orphans_and_leaves_foreign_resources(sagemaker_rig) -> None:
    from cloudml.providers.sagemaker import SageMakerProvider

    options = sagemaker_rig.provider_options()
    sm = sagemaker_rig.client("sagemaker")
    container = {"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": "s3://b/m.tar.gz"}
    role = options["role_arn"]
    sm.create_model(ModelName="orphan-model", PrimaryContainer=container, ExecutionRoleArn=role,
                    Tags=[{"Key": "cloudml-created", "Value": str(int(time.time()) - 3 * 86400)}])
    sm.create_model(ModelName="users-own-model", PrimaryContainer=container, ExecutionRoleArn=role)
    try:
        rows = cleanup("sagemaker", options, "--older-than 2d")
        assert [(r["kind"], r["name"], r["action"]) for r in rows] == [("model", "orphan-model", "deleted")]
        assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["users-own-model"]
    finally:
        SageMakerProvider(**options).delete_resource(CloudResource("sagemaker", "model", "orphan-model"))
        sm.delete_model(ModelName="users-own-model")


def test_cleanup_on_vertex(vertex_provider, vertex_options, artifact: Path) -> None:
    check_cleanup(vertex_provider, vertex_options, artifact, "n1-standard-2")


def test_cleanup_on_azureml(fake_aml, provider_options, artifact: Path, tmp_path: Path) -> None:
    from cloudml.providers.azureml import AzureMLProvider

    packaging.safe_extract(artifact, tmp_path / "model")   # Azure ML registers a model folder
    check_cleanup(AzureMLProvider(**provider_options), None, tmp_path / "model", None)


def test_cleanup_on_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifact: Path) -> None:
    from cloudml.providers.local import LocalProvider

    monkeypatch.setenv("CLOUDML_LOCAL_ROOT", str(tmp_path / "local"))   # only this test's endpoints
    check_cleanup(LocalProvider(), {}, artifact, None)


def test_bad_ages_are_refused() -> None:
    result = CliRunner().invoke(main, ["cleanup", "--older-than", "yesterday"])
    assert result.exit_code != 0 and "--older-than" in result.output + result.stderr
