"""Probes on ``Endpoint``: one handle shared by 50 threads gives 0 errors and 0 answers meant for another caller,
on local and every rig; a local endpoint's token is sent by the handle ``deploy`` returned."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cloudml import providers
from cloudml.endpoints import Endpoint
from cloudml.errors import EndpointError
from cloudml.spec import DeploySpec, SourceCode
from tests.conformance.suite import PROJECTS, Rig, regression_artifact

THREADS = 50
PER_THREAD = 4


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return regression_artifact(tmp_path_factory.mktemp("artifact"))


def _deploy(rig: Rig, artifact: Path, name: str, **kwargs: object) -> tuple[object, Endpoint]:
    prov = providers.get(rig.provider, **rig.options)
    # Azure ML registers a model folder (the rig's own tests do too); the others take the model.tar.gz
    model = artifact.parent / "model" if rig.provider == "azureml" else artifact
    spec = DeploySpec(model_uri=str(model), source=SourceCode("inference.py", str(PROJECTS / "regression")),
                      instance_type=rig.deploy_instance_type, endpoint_name=name,
                      framework_version=rig.extra.get("framework_version"), **kwargs)  # type: ignore[arg-type]
    info = prov.deploy(spec)
    return prov, Endpoint(prov, info.name, token=kwargs.get("auth_token"))  # type: ignore[arg-type]


def test_one_endpoint_shared_by_50_threads_answers_each_its_own(cloud: Rig, artifact: Path) -> None:
    prov, endpoint = _deploy(cloud, artifact, "hostile-threads")
    try:
        def call(i: int) -> list[tuple[float, object]]:
            out = []
            for j in range(PER_THREAD):
                x = float(i * PER_THREAD + j)
                try:
                    out.append((x, endpoint.predict({"instances": [[x]]})["predictions"][0][0]))
                except Exception as exc:  # noqa: BLE001 - counted below
                    out.append((x, exc))
            return out

        with ThreadPoolExecutor(THREADS) as pool:
            answers = [a for batch in pool.map(call, range(THREADS)) for a in batch]
        errors = [a for _, a in answers if isinstance(a, Exception)]
        crossed = [(x, y) for x, y in answers if not isinstance(y, Exception) and abs(y - (2 * x + 1)) > 0.01]
        assert len(answers) == THREADS * PER_THREAD
        assert errors == [], errors[:3]
        assert crossed == [], f"answers meant for another caller: {crossed[:5]}"
    finally:
        endpoint.delete()


def test_the_handle_deploy_returns_sends_the_endpoints_token(local_rig: Rig, artifact: Path) -> None:
    prov, endpoint = _deploy(local_rig, artifact, "hostile-token", auth_token="tok-" + "q" * 24)
    try:
        assert endpoint.predict({"instances": [[1.0]]})["predictions"][0][0] == pytest.approx(3.0, abs=0.01)
        with pytest.raises(EndpointError) as caught:
            Endpoint(prov, endpoint.name).predict({"instances": [[1.0]]})  # type: ignore[arg-type]
        assert caught.value.status == 401
        with pytest.raises(EndpointError) as caught:
            endpoint.predict(b"{not json")
        assert caught.value.status == 400
    finally:
        endpoint.delete()


def test_deploying_over_a_live_endpoint_name_is_refused_and_leaves_it_serving(local_rig: Rig,
                                                                               artifact: Path) -> None:
    from cloudml.errors import ValidationError

    prov, endpoint = _deploy(local_rig, artifact, "hostile-taken")
    try:
        with pytest.raises(ValidationError) as caught:
            _deploy(local_rig, artifact, "hostile-taken")
        assert caught.value.field == "endpoint_name"
        assert endpoint.predict({"instances": [[2.0]]})["predictions"][0][0] == pytest.approx(5.0, abs=0.01)
    finally:
        endpoint.delete()
