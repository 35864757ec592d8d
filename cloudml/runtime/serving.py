"""Serving adapter: the user's ``inference.py`` (SageMaker handler names) behind a small HTTP server.
Standard library only; numpy / torch / tensorflow are imported only when a default handler needs them.

Handlers, as in SageMaker's framework containers, each optional:
``model_fn(model_dir)``, ``input_fn(body, content_type)``, ``predict_fn(data, model)``,
``output_fn(prediction, accept)`` (or ``transform_fn(model, body, content_type, accept)``), in an ``inference.py``
or in the training script itself; an Azure ML ``score.py`` (``init()`` / ``run(raw_data)``) serves too. Defaults: JSON and ``.npy`` input (a JSON ``{"instances": X}`` yields X),
TensorFlow SavedModels and TorchScript ``model.pt`` load without a ``model_fn``, torch modules get a float32
tensor under ``no_grad``, and the output is JSON ``{"predictions": [...]}``.

Protocol (SageMaker's, which Vertex custom containers and Azure's score.py adapter reuse):
``GET /ping`` -> 200 once the model is loaded; ``POST /invocations`` (alias ``/predict``) -> the prediction; on
Vertex also the routes in ``AIP_HEALTH_ROUTE`` / ``AIP_PREDICT_ROUTE``.
An optional bearer token (``CLOUDML_ENDPOINT_TOKEN``) is required on every request when set.
``python -m cloudml_runtime.serving --model-dir D [--code-dir C] [--host 127.0.0.1] [--port 0]`` prints one JSON
line ``{"port": N}`` once it listens.

The HTTP layer (``make_server``) is the standard library's threading server, made fit for many concurrent and
hostile clients (the runtime ships inside bundles and containers, so it cannot depend on an installed server):
a listen backlog of ``BACKLOG``; at most ``max_connections`` connections served at once (one more is answered
503 and closed); a socket timeout on every connection (an idle keep-alive, a slow or short body frees its
thread after ``timeout`` seconds); the token checked BEFORE the body is read; a body over ``max_body_bytes``
refused with 413 unread; a missing or malformed ``Content-Length`` 411/400; input the handlers cannot take (bad
JSON, wrong shape or type: ``ValueError``, ``TypeError``, ``KeyError``, ``IndexError``, a tensor shape mismatch)
400, not 500; a handler's own failure 500. Every error answer is JSON ``{"error": ...}``.
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
    # each named folder: a SavedModel at its root (a registered model folder, as Azure ML mounts one under its own
    # name) or TF Serving's version folders below it
    found = [p for p in (_saved_model_in(os.path.join(model_dir, d)) for d in named) if p]
    return found[0] if len(found) == 1 else None


def _saved_model_in(folder: str) -> str | None:
    return folder if os.path.isfile(os.path.join(folder, "saved_model.pb")) else _find_versioned(folder)


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


def _scoring_output(result: Any, accept: str) -> tuple[bytes, str]:
    """A score.py ``run()`` answer: bytes as they are, anything else as JSON (as Azure ML's scoring server does)."""
    if isinstance(result, (bytes, bytearray)):
        return bytes(result), accept if accept not in ("*/*", "") else "application/json"
    return json.dumps(to_jsonable(result)).encode(), "application/json"


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
            # the same three steps as every other kind, so a container that calls them one by one (SageMaker's
            # inference toolkit through cloudml's shim) serves a score.py too
            self.input_fn = lambda body, content_type: body.decode("utf-8", errors="replace")
            self.predict_fn = lambda data, model: self.run_fn(data)
            self.output_fn = _scoring_output
            self.transform_fn = None
            return
        pick: Callable[[str, Any], Any] = lambda name, default: getattr(module, name, None) or default  # noqa: E731
        self.model_fn = pick("model_fn", default_model_fn)
        self.input_fn = pick("input_fn", default_input_fn)
        self.predict_fn = pick("predict_fn", default_predict_fn)
        self.output_fn = pick("output_fn", default_output_fn)
        self.transform_fn = getattr(module, "transform_fn", None)
        self.model = self.model_fn(model_dir)

    def __call__(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
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


BACKLOG = 512
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_CONNECTIONS = 256
SOCKET_TIMEOUT = 30.0
_BAD_INPUT = (ValueError, TypeError, KeyError, IndexError)


def input_problem(exc: BaseException) -> bool:
    """Whether ``exc`` from the handlers means the request could not be taken (400) rather than a fault (500)."""
    if isinstance(exc, _BAD_INPUT):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("shape" in text or "size mismatch" in text)


class Server(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a real backlog and a bound on the connections served at once."""

    request_queue_size = BACKLOG
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int = MAX_CONNECTIONS):
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # full: say so at once instead of queueing a thread
            try:
                request.settimeout(1.0)
                body = b'{"error": "the server is at its connection limit; retry"}'
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Connection: close\r\nRetry-After: 1\r\nContent-Length: "
                                + str(len(body)).encode() + b"\r\n\r\n" + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(model: Model, host: str = "127.0.0.1", port: int = 0, token: str | None = None, *,
                max_body_bytes: int = MAX_BODY_BYTES, timeout: float = SOCKET_TIMEOUT,
                max_connections: int = MAX_CONNECTIONS) -> ThreadingHTTPServer:
    sock_timeout = timeout
    # a Vertex custom container also answers the routes Vertex names in AIP_PREDICT_ROUTE / AIP_HEALTH_ROUTE
    health_routes = {"/ping", "/health", "/", *filter(None, [os.environ.get("AIP_HEALTH_ROUTE")])}
    predict_routes = {"/invocations", "/predict", *filter(None, [os.environ.get("AIP_PREDICT_ROUTE")])}
    expected = f"Bearer {token}".encode() if token else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One segment per response, sent at once: headers and body are buffered and flushed together after each
        # request (``handle_one_request`` flushes), and TCP_NODELAY keeps Nagle from holding back the tail of
        # a large body. Unbuffered, the body went out as a second small segment that Nagle held until the
        # client's delayed ACK: ~40 ms per request on a kept-alive connection.
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True
        timeout = sock_timeout  # on every read: no client holds a thread forever

        def log_message(self, format: str, *args: Any) -> None:  # quiet: errors are answered, not logged
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json", close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if close:  # the request body was not read: the connection cannot carry another request
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, close: bool = False) -> None:
            self._send(status, json.dumps({"error": message}).encode(), close=close)

        def _authorised(self) -> bool:
            if expected is None:
                return True
            given = self.headers.get("Authorization", "")
            if hmac.compare_digest(given.encode(errors="replace"), expected):
                return True
            self._error(401, "missing or wrong bearer token", close=True)
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path.split("?")[0] in health_routes:
                self._send(200, b'{"status": "ok"}')
            else:
                self._error(404, "not found")

        def _read_body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding"):
                self._error(411, "send the body with a Content-Length (chunked bodies are not accepted)", close=True)
                return None
            raw = self.headers.get("Content-Length")
            if raw is None:
                self._error(411, "Content-Length is required", close=True)
                return None
            try:
                length = int(raw)
                if length < 0:
                    raise ValueError(raw)
            except ValueError:
                self._error(400, f"bad Content-Length {raw[:40]!r}", close=True)
                return None
            if length > max_body_bytes:
                self._error(413, f"the body is {length} bytes; this endpoint takes at most {max_body_bytes}",
                            close=True)
                return None
            try:
                body = self.rfile.read(length)
            except (TimeoutError, OSError):
                self.close_connection = True
                return None
            if len(body) != length:  # the client sent less than it announced and closed (or timed out)
                self.close_connection = True
                return None
            return body

        def do_POST(self) -> None:
            if not self._authorised():  # before a byte of the body is read
                return
            if self.path.split("?")[0] not in predict_routes:
                self._error(404, "not found", close=True)
                return
            body = self._read_body()
            if body is None:
                return
            try:
                payload, ctype = model(body, self.headers.get("Content-Type", "application/json"),
                                       self.headers.get("Accept", "application/json"))
            except HandlerError as exc:
                self._error(exc.status, str(exc))
            except Exception as exc:  # the input did not fit (400) or the user's handler failed (500): keep serving
                if input_problem(exc):
                    self._error(400, f"the model cannot take this input: {type(exc).__name__}: {exc}"[:2000])
                else:
                    traceback.print_exc()
                    self._error(500, f"{type(exc).__name__}: {exc}"[:2000])
            else:
                self._send(200, payload, ctype)

    return Server((host, port), Handler, max_connections=max_connections)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cloudml_runtime.serving")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--code-dir")
    parser.add_argument("--entry", default="inference.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "0") or 0))
    parser.add_argument("--port-file", help="write {\"port\": N} here (atomically) once listening")
    parser.add_argument("--ttl", type=float, help="shut down after this many seconds")
    parser.add_argument("--max-body-bytes", type=int, default=int(os.environ.get("CLOUDML_MAX_BODY_BYTES") or
                                                                   MAX_BODY_BYTES))
    parser.add_argument("--timeout", type=float, default=SOCKET_TIMEOUT, help="socket timeout per connection (s)")
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS)
    args = parser.parse_args(argv)
    model = Model(args.model_dir, args.code_dir, args.entry)
    server = make_server(model, args.host, args.port, os.environ.get("CLOUDML_ENDPOINT_TOKEN") or None,
                         max_body_bytes=args.max_body_bytes, timeout=args.timeout,
                         max_connections=args.max_connections)
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
