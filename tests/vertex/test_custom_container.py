"""Vertex custom-container serving contract, as the rig enforces it (Vertex publishes no serving runtime): the
container gets AIP_HTTP_PORT, AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE (Vertex's default routes when the model names
none), receives {"instances": [...], "parameters": ...} and must answer {"predictions": [...]}; Vertex's answer
adds deployedModelId. The container here is a plain script, nothing of cloudml."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

CONTAINER = '''
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

PREDICT, HEALTH, MODE = os.environ["AIP_PREDICT_ROUTE"], os.environ["AIP_HEALTH_ROUTE"], os.environ["MODE"]


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(200 if self.path == HEALTH else 404, {})

    def do_POST(self):
        if self.path != PREDICT:
            return self.answer(404, {"error": self.path})
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        out = [2 * x[0] + req.get("parameters", {}).get("offset", 0) for x in req["instances"]]
        self.answer(200, {"predictions": out} if MODE == "ok" else out)


HTTPServer(("127.0.0.1", int(os.environ["AIP_HTTP_PORT"])), H).serve_forever()
'''


def _deploy(vertex_options: dict[str, Any], tmp_path: Path, mode: str, name: str) -> tuple[Any, Any, str]:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1 as v1

    script = tmp_path / f"container_{mode}.py"
    script.write_text(CONTAINER)
    opts = dict(credentials=AnonymousCredentials(), transport="rest",
                client_options=ClientOptions(api_endpoint=vertex_options["api_endpoint"]))
    parent = f"projects/{vertex_options['project']}/locations/{vertex_options['location']}"
    models, endpoints = v1.ModelServiceClient(**opts), v1.EndpointServiceClient(**opts)
    model = models.upload_model(parent=parent, model=v1.Model(
        display_name=name, artifact_uri=vertex_options["staging_bucket"] + "/plain/", container_spec=v1.ModelContainerSpec(
            image_uri="us-docker.pkg.dev/me/plain:1", command=[sys.executable, str(script)],
            env=[v1.EnvVar(name="MODE", value=mode)]))).result().model
    endpoint = endpoints.create_endpoint(parent=parent, endpoint=v1.Endpoint(display_name=name)).result().name
    endpoints.deploy_model(endpoint=endpoint, deployed_model=v1.DeployedModel(
        model=model, dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1)),
        traffic_split={"0": 100}).result()
    return v1.PredictionServiceClient(**opts), (models, endpoints, model), endpoint


def _clean(handles: Any, endpoint: str) -> None:
    models, endpoints, model = handles
    for deployed in endpoints.get_endpoint(name=endpoint).deployed_models:
        endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=deployed.id).result()
    endpoints.delete_endpoint(name=endpoint).result()
    models.delete_model(name=model).result()


def test_a_plain_custom_container_is_served_with_vertexs_env_routes_and_envelope(vertex_options, vertex_rig,
                                                                                 tmp_path):
    from google.protobuf import json_format

    prediction, handles, endpoint = _deploy(vertex_options, tmp_path, "ok", "plain")
    try:
        deployed = handles[1].get_endpoint(name=endpoint).deployed_models[0]
        response = prediction.predict(endpoint=endpoint, instances=[[1.0], [2.5]], parameters={"offset": 1})
        body = json_format.MessageToDict(response._pb)
        assert body["predictions"] == [3.0, 6.0]
        assert body["deployedModelId"] == deployed.id
        rid = endpoint.rsplit("/", 1)[-1]
        # no routes in the model: Vertex's defaults, which the container could only have read from AIP_*_ROUTE
        server = vertex_rig.servers[deployed.id]
        assert server.predict_route == f"/v1/endpoints/{rid}/deployedModels/{deployed.id}:predict"
        assert server.health_route == f"/v1/endpoints/{rid}/deployedModels/{deployed.id}"
    finally:
        _clean(handles, endpoint)


def test_a_container_that_answers_without_the_envelope_is_an_error(vertex_options, vertex_rig, tmp_path):
    from google.api_core import exceptions

    prediction, handles, endpoint = _deploy(vertex_options, tmp_path, "bare", "bare")
    try:
        with pytest.raises(exceptions.GoogleAPICallError) as caught:
            prediction.predict(endpoint=endpoint, instances=[[1.0]])
        assert "'predictions'" in str(caught.value)
    finally:
        _clean(handles, endpoint)
