"""Serving on Azure ML: the generated scoring script and a user's own score.py through Azure ML's published scoring
server (azureml-inference-server-http), against the local serving adapter; deploy failures."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from cloudml.errors import CapacityError, EndpointError
from cloudml.providers._azureml_serving import SCORING_SCRIPT, build_code_dir
from cloudml.runtime.serving import Model
from cloudml.spec import DeploySpec, SourceCode
from tests.rigs._azureml_endpoints import start_scoring_server
from tests.rigs.containers import kill_tree

PROJECTS = Path(__file__).parent / "projects"
LINEAR = PROJECTS / "linear"
PAYLOAD = {"instances": [[0.0], [1.5], [-2.0]]}

@pytest.fixture
def torch_model_dir(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    model = torch.nn.Linear(1, 1)
    folder = tmp_path / "model"
    folder.mkdir()
    torch.jit.script(model).save(str(folder / "model.pt"))
    return folder


def azure_score(code: Path, model_root: Path, payload: str, entry: str = SCORING_SCRIPT) -> object:
    """POST ``payload`` to ``/score`` of Azure ML's published scoring server (azureml-inference-server-http) running
    ``code/entry``, as a managed online deployment runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDML_", "AZUREML_", "AML_"))}
    env.pop("PYTHONPATH", None)
    proc, port = start_scoring_server(code, entry, model_root, env, code.parent / f"{code.name}-server.log")
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/score", data=payload.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert resp.headers.get("x-ms-run-fn-exec-ms"), "answered by the Azure ML server"
            return json.loads(resp.read())
    finally:
        kill_tree(proc)


def test_score_py_answers_like_the_local_serving_adapter(torch_model_dir, tmp_path):
    code = build_code_dir(str(LINEAR), "inference.py", str(tmp_path))
    assert (code / SCORING_SCRIPT).is_file() and (code / "cloudml_runtime" / "serving.py").is_file()
    assert (code / "inference.py").is_file() and not (code / "cloudml_launcher.py").exists()
    # Azure mounts a folder model under its own name below AZUREML_MODEL_DIR
    root = tmp_path / "azureml-models"
    root.mkdir()
    os.symlink(torch_model_dir, root / "model")
    azure = azure_score(code, root, json.dumps(PAYLOAD))
    local_body, _ = Model(str(torch_model_dir), code_dir=str(LINEAR))(json.dumps(PAYLOAD).encode(), "application/json",
                                                                     "application/json")
    assert azure == json.loads(local_body)
    assert len(azure["predictions"]) == 3


def test_score_py_without_inference_py_uses_the_default_handlers(torch_model_dir, tmp_path):
    code = build_code_dir(None, None, str(tmp_path))
    azure = azure_score(code, torch_model_dir, json.dumps(PAYLOAD))
    local_body, _ = Model(str(torch_model_dir), code_dir=str(tmp_path / "none"))(
        json.dumps(PAYLOAD).encode(), "application/json", "application/json")
    assert azure == json.loads(local_body)


def deploy_spec(model_uri, project, **kw):
    return DeploySpec(model_uri=model_uri, source=SourceCode("inference.py", str(project)), framework="pytorch",
                      framework_version="2.5", instance_type="Standard_DS3_v2", **kw)


def test_a_deployment_that_cannot_start_is_rolled_back(provider, fake_aml, tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "weights.txt").write_text("1.0")
    with pytest.raises(EndpointError) as caught:
        provider.deploy(deploy_spec(str(model), PROJECTS / "broken_serving", endpoint_name="broken-ep"))
    assert "cannot load weights: corrupted file" in str(caught.value)
    assert fake_aml.live("onlineEndpoints") == [] and fake_aml.live("models") == []


def test_deploy_quota_refusal_names_the_instance_type_and_leaves_nothing(provider, fake_aml, tmp_path,
                                                                         torch_model_dir):
    fake_aml.fail_next[("PUT", r"/deployments/")] = [409]
    with pytest.raises(CapacityError) as caught:
        provider.deploy(deploy_spec(str(torch_model_dir), LINEAR, endpoint_name="quota-ep"))
    assert caught.value.instance_type == "Standard_DS3_v2"
    assert fake_aml.live("onlineEndpoints") == [] and fake_aml.live("models") == []


def test_endpoint_errors_carry_the_status_and_delete_is_idempotent(provider, fake_aml, torch_model_dir):
    info = provider.deploy(deploy_spec(str(torch_model_dir), LINEAR, endpoint_name="status-ep", tags={"team": "ml"}))
    try:
        assert provider.describe_endpoint("status-ep").state.value == "InService"
        assert [e.name for e in provider.list_endpoints()] == ["status-ep"]
        with pytest.raises(EndpointError) as caught:
            provider.invoke(info.name, b'{"instances": "not numbers"}')
        assert caught.value.status == 500
        tags = fake_aml.resources["/onlineendpoints/status-ep"]["tags"]
        assert tags["cloudml-endpoint"] == "status-ep" and tags["team"] == "ml" and tags["cloudml-created"]
        puts = [b for m, p, _, b in fake_aml.requests if m == "PUT" and p.endswith("/deployments/cloudml")]
        assert puts[0]["sku"]["capacity"] == 1 and puts[0]["sku"]["name"] == "Default"
        assert puts[0]["properties"]["instanceType"] == "Standard_DS3_v2"
    finally:
        provider.delete_endpoint("status-ep")
    provider.delete_endpoint("status-ep")
    assert fake_aml.live("onlineEndpoints") == [] and fake_aml.live("models") == []


SCORE_PY = """
import json
import os

weights = None


def init():
    global weights
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.json")) as f:
        weights = json.load(f)


def run(raw_data):
    data = json.loads(raw_data)["data"]
    return [weights["a"] * x + weights["b"] for x in data]
"""


def test_a_users_own_score_py_answers_through_the_azure_ml_server(tmp_path):
    """score.py as Azure ML's docs write it: init() reads AZUREML_MODEL_DIR, run(raw_data) returns a list."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(SCORE_PY)
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.json").write_text('{"a": 2.0, "b": 1.0}')
    assert azure_score(code, model, json.dumps({"data": [0.0, 1.5]}), entry="score.py") == [1.0, 4.0]
