"""Runs a deployment's entry script the way Azure ML's inference server does, for the fake Azure ML rig.

``AML_APP_ROOT`` (the deployment's code folder) goes first on ``sys.path``; ``AZUREML_ENTRY_SCRIPT`` is imported,
its ``init()`` called once, then every ``POST /score`` calls ``run(raw_body_as_str)`` and answers with the JSON
encoding of what ``run`` returned (a ``str`` result is JSON-encoded too, as the real server does). Prints one JSON
line ``{"port": N}`` once ``init()`` returned and the server listens on 127.0.0.1; exits non-zero if ``init()`` fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    root = os.environ["AML_APP_ROOT"]
    sys.path.insert(0, root)
    path = os.path.join(root, os.environ.get("AZUREML_ENTRY_SCRIPT", "score.py"))
    spec = importlib.util.spec_from_file_location("entry_module", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._send(200, b'"Healthy"')

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                result = module.run(raw.decode("utf-8"))
            except Exception as exc:
                traceback.print_exc()
                self._send(500, json.dumps({"message": f"{type(exc).__name__}: {exc}"}).encode())
                return
            self._send(200, json.dumps(result).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
