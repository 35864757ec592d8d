"""Serving adapter: the user's ``inference.py`` (SageMaker handler names) behind a small HTTP server.
Standard library only; numpy / torch / tensorflow are imported only when a default handler needs them.

Handlers, as in SageMaker's framework containers, each optional:
``model_fn(model_dir)``, ``input_fn(body, content_type)``, ``predict_fn(data, model)``,
``output_fn(prediction, accept)`` (or ``transform_fn(model, body, content_type, accept)``), in an ``inference.py``
or in the training script itself; an Azure ML ``score.py`` (``init()`` / ``run(raw_data)``) serves too. Defaults: JSON and ``.npy`` input (a JSON ``{"instances": X}`` yields X),
TensorFlow SavedModels and TorchScript ``model.pt`` load without a ``model_fn``, torch modules get a float32
tensor under ``no_grad``, and the output is JSON ``{"predictions": [...]}``.

Protocol (SageMaker's, which Vertex custom containers and Azure's score.py adapter reuse):
``GET /ping`` -> 200 once the model is loaded; ``POST /invocations`` (alias ``/predict``) -> the prediction.
An optional bearer token (``CLOUDML_ENDPOINT_TOKEN``) is required on every request when set.
``python -m cloudml_runtime.serving --model-dir D [--code-dir C] [--host 127.0.0.1] [--port 0]`` prints one JSON
line ``{"port": N}`` once it listens.
"""

from __future__ import annotations

import argparse
import hmac
import importlib.util
import io
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any


class HandlerError(Exception):
    """The user's handlers could not be loaded or raised; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 500):
        self.status = status
        super().__init__(message)


def _find_saved_model(model_dir: str) -> str | None:
    """Where the SavedModel is, in any layout a TF serving stack uses: ``saved_model.pb`` at the root (Vertex),
    the highest numbered version folder ``<N>/`` (SageMaker TF Serving, cloudml's TensorFlow template), or one
    named model folder holding version folders (``<name>/<N>/``, TF Serving's multi-model layout)."""
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    if not os.path.isdir(model_dir):
        return None
    versioned = _find_versioned(model_dir)
    if versioned:
        return versioned
    named = sorted(d for d in os.listdir(model_dir) if not d.isdigit() and d != "code"
                   and os.path.isdir(os.path.join(model_dir, d)))
    found = [p for p in (_find_versioned(os.path.join(model_dir, d)) for d in named) if p]
    return found[0] if len(found) == 1 else None


def _find_versioned(folder: str) -> str | None:
    versions = sorted((d for d in os.listdir(folder) if d.isdigit()), key=int)
    for d in reversed(versions):
        if os.path.isfile(os.path.join(folder, d, "saved_model.pb")):
            return os.path.join(folder, d)
    return None


def default_model_fn(model_dir: str) -> Any:
    saved = _find_saved_model(model_dir)
    if saved:
        import tensorflow as tf

        loaded = tf.saved_model.load(saved)
        fn = loaded.signatures["serving_default"]
        specs = fn.structured_input_signature[1]

        def predict(data: Any) -> Any:
            if len(specs) == 1:
                feeds = {next(iter(specs)): data}
            else:  # named inputs: rows [{name: value}, ...] (TF Serving "instances") or columns {name: [...]}
                if isinstance(data, list) and all(isinstance(row, dict) for row in data):
                    data = {name: [row[name] for row in data] for name in specs}
                if not isinstance(data, dict) or set(data) != set(specs):
                    raise HandlerError(f"this model takes the named inputs {sorted(specs)}: send "
                                       "instances as objects with those keys", 400)
                feeds = data
            out = fn(**{name: tf.constant(value, dtype=specs[name].dtype) for name, value in feeds.items()})
            return next(iter(out.values())).numpy() if len(out) == 1 else {k: v.numpy() for k, v in out.items()}

        predict._cloudml_loaded = loaded  # type: ignore[attr-defined]  # keep the object alive
        return predict
    if os.path.isfile(os.path.join(model_dir, "model.pt")):
        import torch

        return torch.jit.load(os.path.join(model_dir, "model.pt"), map_location="cpu")
    raise HandlerError(f"no model_fn in inference.py and no SavedModel or TorchScript model.pt in {model_dir}")


def default_input_fn(body: bytes, content_type: str) -> Any:
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype == "application/json":
        data = json.loads(body or b"null")
        return data["instances"] if isinstance(data, dict) and "instances" in data else data
    if ctype == "application/x-npy":
        import numpy as np

        return np.load(io.BytesIO(body), allow_pickle=False)
    if ctype == "text/csv":
        return [[float(x) for x in line.split(",")] for line in body.decode().splitlines() if line.strip()]
    raise HandlerError(f"unsupported content type {content_type!r}; send application/json, application/x-npy or text/csv", 415)


def _module_type(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def default_predict_fn(data: Any, model: Any) -> Any:
    if "torch" in sys.modules:
        import torch

        if isinstance(model, torch.nn.Module):
            model.eval()
            with torch.no_grad():
                return model(torch.as_tensor(data, dtype=torch.float32))
    if callable(model):
        return model(data)
    return model.predict(data)


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if hasattr(value, "numpy") and _module_type(value) == "tensorflow":
        value = value.numpy()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    atype = (accept or "application/json").split(";")[0].strip().lower()
    if atype in ("application/json", "*/*", ""):
        return json.dumps({"predictions": to_jsonable(prediction)}).encode(), "application/json"
    if atype == "application/x-npy":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.asarray(to_jsonable(prediction)), allow_pickle=False)
        return buf.getvalue(), "application/x-npy"
    raise HandlerError(f"unsupported accept type {accept!r}; ask for application/json or application/x-npy", 406)


def _load_module(path: str) -> ModuleType:
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("cloudml_user_inference", path)
    if spec is None or spec.loader is None:
        raise HandlerError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")


def handler_names(path: str) -> set[str]:
    """The serving functions ``path`` defines at top level (SageMaker handler names, or Azure's ``init`` /
    ``run``), read without importing it (a training script must not start training to be asked)."""
    import ast

    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return set()
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    return names & {*HANDLERS, "init", "run"}


def is_scoring_script(module: ModuleType | None) -> bool:
    """An Azure ML ``score.py``: ``init()`` and ``run(raw_data)``, no SageMaker ``model_fn``."""
    return (module is not None and callable(getattr(module, "init", None)) and callable(getattr(module, "run", None))
            and not hasattr(module, "model_fn"))


class Model:
    """The user's handlers bound to a loaded model; ``__call__`` answers one request.

    ``entry`` (in ``code_dir``, default ``model_dir/code``) is an ``inference.py`` with SageMaker's handler names
    (each optional), a training script that defines them (SageMaker's ``deploy()`` without an inference.py), or an
    Azure ML ``score.py`` (``init()`` then ``run(raw_data)`` per request, reading ``AZUREML_MODEL_DIR``, which is set
    to ``model_dir``; the answer is ``run``'s value as JSON, bytes as they are)."""

    def __init__(self, model_dir: str, code_dir: str | None = None, entry: str = "inference.py"):
        code_dir = code_dir or os.path.join(model_dir, "code")
        path = os.path.join(code_dir, entry)
        module = _load_module(path) if os.path.isfile(path) else None
        self.scoring = is_scoring_script(module)
        if self.scoring:
            assert module is not None
            # the folder holding the model's files, on every provider (Azure itself points at the registered
            # model's parent, one level up from cloudml's model folder)
            os.environ["AZUREML_MODEL_DIR"] = model_dir
            self.run_fn = module.run
            module.init()
            self.model = None
            return
        pick: Callable[[str, Any], Any] = lambda name, default: getattr(module, name, None) or default  # noqa: E731
        self.model_fn = pick("model_fn", default_model_fn)
        self.input_fn = pick("input_fn", default_input_fn)
        self.predict_fn = pick("predict_fn", default_predict_fn)
        self.output_fn = pick("output_fn", default_output_fn)
        self.transform_fn = getattr(module, "transform_fn", None)
        self.model = self.model_fn(model_dir)

    def __call__(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        if self.scoring:
            result = self.run_fn(body.decode("utf-8", errors="replace"))
            if isinstance(result, (bytes, bytearray)):
                return bytes(result), accept if accept not in ("*/*", "") else "application/json"
            return json.dumps(to_jsonable(result)).encode(), "application/json"
        if self.transform_fn is not None:  # SageMaker: one function doing input, predict and output
            out = self.transform_fn(self.model, body, content_type, accept)
        else:
            data = self.input_fn(body, content_type)
            prediction = self.predict_fn(data, self.model)
            out = self.output_fn(prediction, accept)
        if isinstance(out, tuple):
            payload, ctype = out
        else:
            payload, ctype = out, accept if accept not in ("*/*", "") else "application/json"
        return (payload.encode() if isinstance(payload, str) else bytes(payload)), ctype


def make_server(model: Model, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One segment per response, sent at once: headers and body are buffered and flushed together after each
        # request (``handle_one_request`` flushes), and TCP_NODELAY keeps Nagle from holding back the tail of
        # a large body. Unbuffered, the body went out as a second small segment that Nagle held until the
        # client's delayed ACK: ~40 ms per request on a kept-alive connection.
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per error only
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorised(self) -> bool:
            if not token:
                return True
            given = self.headers.get("Authorization", "")
            if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return True
            self._send(401, b'{"error": "missing or wrong bearer token"}')
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path in ("/ping", "/health", "/"):
                self._send(200, b'{"status": "ok"}')
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if not self._authorised():
                return
            if self.path.split("?")[0] not in ("/invocations", "/predict"):
                self._send(404, b'{"error": "not found"}')
                return
            try:
                payload, ctype = model(body, self.headers.get("Content-Type", "application/json"),
                                       self.headers.get("Accept", "application/json"))
            except HandlerError as exc:
                self._send(exc.status, json.dumps({"error": str(exc)}).encode())
            except Exception as exc:  # the user's handler failed: report it, keep serving
                traceback.print_exc()
                self._send(500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            else:
                self._send(200, payload, ctype)

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cloudml_runtime.serving")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--code-dir")
    parser.add_argument("--entry", default="inference.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "0") or 0))
    parser.add_argument("--port-file", help="write {\"port\": N} here (atomically) once listening")
    parser.add_argument("--ttl", type=float, help="shut down after this many seconds")
    args = parser.parse_args(argv)
    model = Model(args.model_dir, args.code_dir, args.entry)
    server = make_server(model, args.host, args.port, os.environ.get("CLOUDML_ENDPOINT_TOKEN") or None)
    ready = json.dumps({"port": server.server_address[1], "pid": os.getpid()})
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(ready)
        os.replace(args.port_file + ".tmp", args.port_file)
    print(ready, flush=True)
    if args.ttl:
        timer = threading.Timer(args.ttl, server.shutdown)
        timer.daemon = True
        timer.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
