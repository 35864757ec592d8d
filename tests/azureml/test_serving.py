"""Serving on Azure ML: the generated scoring script against the local serving adapter, and deploy failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudml.errors import CapacityError, EndpointError
from cloudml.providers._azureml_serving import SCORING_SCRIPT, build_code_dir
from cloudml.runtime.serving import Model
from cloudml.spec import DeploySpec, SourceCode

PROJECTS = Path(__file__).parent / "projects"
LINEAR = PROJECTS / "linear"
PAYLOAD = {"instances": [[0.0], [1.5], [-2.0]]}

# What Azure's inference server does with a scoring script: import it from the code folder, init(), then run()
# with the request body as a string; the answer is the JSON encoding of run()'s result.
AZURE_SERVER = """
import importlib.util, json, os, sys
root = os.environ["AML_APP_ROOT"]
sys.path.insert(0, root)
spec = importlib.util.spec_from_file_location("entry", os.path.join(root, os.environ["AZUREML_ENTRY_SCRIPT"]))
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.init()
print(json.dumps(module.run(sys.stdin.read())))
"""


@pytest.fixture
def torch_model_dir(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    model = torch.nn.Linear(1, 1)
    folder = tmp_path / "model"
    folder.mkdir()
    torch.jit.script(model).save(str(folder / "model.pt"))
    return folder


def azure_score(code: Path, model_root: Path, payload: str) -> object:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDML_", "AZUREML_"))}
    env.update({"AML_APP_ROOT": str(code), "AZUREML_ENTRY_SCRIPT": SCORING_SCRIPT, "AZUREML_MODEL_DIR": str(model_root)})
    out = subprocess.run([sys.executable, "-c", AZURE_SERVER], input=payload, capture_output=True, text=True, env=env,
                         cwd=code, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


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
