"""Probes on the local model server's HTTP layer (``cloudml.runtime.serving.make_server``), served for real on
127.0.0.1 by the same code the local endpoint runs: concurrent and slow clients, lying or missing
``Content-Length``, huge bodies sent without the token, bad JSON and wrong shapes."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cloudml.runtime.serving import BACKLOG, Model, make_server

INFERENCE = '''
def model_fn(model_dir):
    def model(rows):
        if rows == "boom":
            raise RuntimeError("the handler broke")
        return [[2 * row[0] + 1] for row in rows]
    return model
'''
TOKEN = "tok-" + "x" * 20


@pytest.fixture
def model(tmp_path: Path) -> Model:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(INFERENCE)
    return Model(str(tmp_path), str(tmp_path / "code"))


def _serve(model: Model, **kwargs: Any) -> Iterator[tuple[str, int]]:
    server = make_server(model, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server(model: Model) -> Iterator[tuple[str, int]]:
    yield from _serve(model, timeout=1.0, max_body_bytes=4096)


@pytest.fixture
def secured(model: Model) -> Iterator[tuple[str, int]]:
    yield from _serve(model, token=TOKEN, timeout=1.0)


def _post(addr: tuple[str, int], body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(*addr, timeout=10)
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data or b"{}")


def _raw(addr: tuple[str, int], request: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(addr, timeout=wait) as s:
        s.sendall(request)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_the_listen_backlog_is_real(server: tuple[str, int]) -> None:
    assert BACKLOG >= 128


def test_64_concurrent_clients_get_their_own_answers(model: Model) -> None:
    for addr in _serve(model):
        def client(i: int, addr: tuple[str, int] = addr) -> list[bool]:
            conn = http.client.HTTPConnection(*addr, timeout=30)
            ok = []
            for j in range(20):
                x = i * 1000 + j
                conn.request("POST", "/invocations", body=json.dumps({"instances": [[x]]}),
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                ok.append(resp.status == 200 and json.loads(resp.read())["predictions"] == [[2 * x + 1]])
            conn.close()
            return ok

        with ThreadPoolExecutor(64) as pool:
            results = [r for rs in pool.map(client, range(64)) for r in rs]
        assert len(results) == 64 * 20 and all(results)


def test_slow_clients_do_not_hold_the_server(server: tuple[str, int]) -> None:
    idle = [socket.create_connection(server, timeout=10) for _ in range(50)]
    try:
        started = time.monotonic()
        assert _post(server, b'{"instances": [[1]]}')[0] == 200
        assert time.monotonic() - started < 5
        time.sleep(1.5)   # past the server's 1 s socket timeout: it has closed every idle connection
        closed = 0
        for s in idle:
            s.settimeout(5)
            try:
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
        assert closed == 50
    finally:
        for s in idle:
            s.close()


def test_a_content_length_larger_than_the_body_frees_the_thread(server: tuple[str, int]) -> None:
    started = time.monotonic()
    answer = _raw(server, b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 1000\r\n\r\n{\"instances\"", wait=10)
    assert answer == b"" and time.monotonic() - started < 8, "closed after the socket timeout, not never"
    assert _post(server, b'{"instances": [[2]]}') == (200, {"predictions": [[5]]})


@pytest.mark.parametrize("header,status", [("Content-Length: abc\r\n", 400), ("Content-Length: -5\r\n", 400),
                                           ("", 411), ("Transfer-Encoding: chunked\r\n", 411),
                                           ("Content-Length: 1000000000000\r\n", 413),
                                           ("Content-Length: 4097\r\n", 413)])
def test_bad_or_missing_content_length_is_a_4xx(server: tuple[str, int], header: str, status: int) -> None:
    answer = _raw(server, f"POST /invocations HTTP/1.1\r\nHost: x\r\n{header}\r\n".encode())
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert b'"error"' in answer


def test_the_token_is_checked_before_a_huge_body_is_read(secured: tuple[str, int]) -> None:
    started = time.monotonic()
    answer = _raw(secured, b"POST /invocations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
                           b"Content-Length: 300000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert time.monotonic() - started < 5, "answered without waiting for 300 MB"


def test_the_token_is_required_and_accepted(secured: tuple[str, int]) -> None:
    assert _post(secured, b'{"instances": [[1]]}')[0] == 401
    assert _post(secured, b'{"instances": [[1]]}', {"Authorization": f"Bearer {TOKEN}"}) == (200, {"predictions": [[3]]})
    conn = http.client.HTTPConnection(*secured, timeout=5)
    conn.request("GET", "/ping")
    assert conn.getresponse().status == 401


@pytest.mark.parametrize("body", [b"{not json", b'{"instances": "abc"}', b'{"instances": [[]]}', b"\xff\xfe",
                                  b'{"instances": [["a", "b"]]}', b'{"instances": 5}'])
def test_bad_json_or_a_wrong_shape_is_a_400_not_a_500(server: tuple[str, int], body: bytes) -> None:
    status, answer = _post(server, body)
    assert status == 400, answer
    assert "error" in answer


def test_a_failing_handler_is_a_500_and_the_server_keeps_serving(server: tuple[str, int]) -> None:
    status, answer = _post(server, b'{"instances": "boom"}')
    assert status == 500 and "the handler broke" in answer["error"]
    assert _post(server, b'{"instances": [[0]]}') == (200, {"predictions": [[1]]})


def test_past_the_connection_limit_clients_get_a_503_at_once(model: Model) -> None:
    for addr in _serve(model, max_connections=2, timeout=5.0):
        held = [socket.create_connection(addr, timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)
            answer = _raw(addr, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
        finally:
            for s in held:
                s.close()
        time.sleep(0.3)
        assert _post(addr, b'{"instances": [[1]]}')[0] == 200, "slots are given back"
