"""The SageMaker PyTorch inference container without Java: the published ``sagemaker-pytorch-inference`` handler
service (``HandlerService``: ``sagemaker-inference``'s ``Transformer`` with the PyTorch default handlers) driven
over HTTP exactly as TorchServe's Python worker drives it. Run as a script in the container's interpreter (it imports
nothing of cloudml or of the tests):

    python sagemaker_model_server.py [--port 0]      # prints {"port": N} once listening

What the DLC's ``serve`` entry does first is done as its functions do it (``torchserve._set_python_path``,
``model_server._install_requirements``; those modules are not imported because they need ``pkg_resources``, gone
from current setuptools): the code dir goes on the Python path and ``/opt/ml/model/code/requirements.txt`` is
``pip install``ed into the container's interpreter. Then, as TorchServe: one worker process, ``initialize(context)`` once
(``context.system_properties["model_dir"] = /opt/ml/model``), and per request ``handle([{"body": bytes}],
context)`` with the request headers as the request properties; the answer is the first item of the returned
list, with the status and content type the handler chain set on the context. Routes are the SageMaker ones:
``GET /ping``, ``POST /invocations``. What TorchServe adds beyond that (batching, several workers, metrics) the
rig does not need.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RequestProcessor:
    def __init__(self, headers: dict[str, str]):
        self._headers = headers

    def get_request_properties(self) -> dict[str, str]:
        return self._headers


class Context:
    """The part of TorchServe's ``ts.context.Context`` the SageMaker handler chain uses."""

    def __init__(self, model_dir: str, headers: dict[str, str] | None = None):
        self.system_properties = {"model_dir": model_dir, "gpu_id": None, "batch_size": 1, "server_name": "MMS"}
        self.request_processor = [RequestProcessor(headers or {})]
        self.status, self.phrase = 200, "OK"
        self.content_type: str | None = None

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.status, self.phrase = int(code), phrase

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_type = value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    from sagemaker_inference import environment
    from sagemaker_pytorch_serving_container.handler_service import HandlerService

    # torchserve._set_python_path and model_server._install_requirements, done the same way here: those modules
    # import pkg_resources, which the setuptools of the test environment no longer has (the DLC's still does)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (environment.code_dir, os.environ.get("PYTHONPATH")) if p)
    requirements = os.path.join(environment.code_dir, "requirements.txt")
    if os.path.exists(requirements):
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-r", requirements])
    sys.path.insert(0, environment.code_dir)
    service = HandlerService()
    service.initialize(Context(environment.model_dir))
    lock = threading.Lock()   # one worker: requests are handled one at a time, as TorchServe's single worker

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *a: object) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._send(200, b'{"status": "Healthy"}\n', "application/json")
            else:
                self._send(404, b'{"code": 404, "type": "ResourceNotFoundException"}', "application/json")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.split("?")[0] != "/invocations":
                self._send(404, b'{"code": 404, "type": "ResourceNotFoundException"}', "application/json")
                return
            context = Context(environment.model_dir, dict(self.headers.items()))
            with lock:
                result = service.handle([{"body": body}], context)
            out = result[0] if result else b""
            payload = out.encode() if isinstance(out, str) else bytes(out)
            self._send(context.status, payload, context.content_type or "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
