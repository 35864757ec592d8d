"""``cloudml.progress``: the transfer hook providers call (silent without a reporter, thread-safe)."""

from __future__ import annotations

import threading

from cloudml import progress


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, description, total):
        self.events.append(("start", description, total))
        return len(self.events)

    def update(self, handle, completed, total):
        self.events.append(("update", handle, completed, total))

    def finish(self, handle):
        self.events.append(("finish", handle))


def test_without_a_reporter_transfers_are_silent_no_ops():
    with progress.transfer("x", 10) as t:
        t(5)
        t.update(10)
    assert t.completed == 10


def test_increments_and_absolute_updates_reach_the_reporter():
    rec = Recorder()
    with progress.use(rec):
        with progress.transfer("bundle abc", 100) as t:
            t(40)                 # boto3-style increment
            t(10)
            t.update(80, 120)     # azure-style (current, total)
    assert rec.events[0] == ("start", "bundle abc", 100)
    assert [e[2:] for e in rec.events if e[0] == "update"] == [(40, 100), (50, 100), (80, 120)]
    assert rec.events[-1] == ("finish", 1)
    with progress.transfer("after", 1) as t:  # the reporter is uninstalled after the block
        t(1)
    assert len(rec.events) == 5


def test_callbacks_from_many_threads_add_up():
    rec = Recorder()
    with progress.use(rec), progress.transfer("parallel", 8000) as t:
        threads = [threading.Thread(target=lambda: [t(1) for _ in range(1000)]) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert t.completed == 8000 and rec.events[-2][2] == 8000


def test_copy_file_reports_every_byte(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    rec = Recorder()
    with progress.use(rec):
        progress.copy_file(str(src), str(tmp_path / "dst.bin"), "copy", chunk=1024 * 1024)
    assert (tmp_path / "dst.bin").read_bytes() == src.read_bytes()
    assert [e[2] for e in rec.events if e[0] == "update"] == [1048576, 2097152, 3145728, 3145733]


def test_printed_requests_mask_secrets_but_keep_labels():
    from cloudml.commands._common import masked

    request = {"Tags": [{"Key": "team", "Value": "ml"}, {"Key": "api_token", "Value": "t0k3n"}],
               "Environment": {"DB_PASSWORD": "pw", "MODE": "fast"}, "key": "sagemaker.bucket",
               "env": [{"name": "CLIENT_SECRET", "value": "s"}, {"name": "LEVEL", "value": "3"}]}
    assert masked(request) == {
        "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "api_token", "Value": "****"}],
        "Environment": {"DB_PASSWORD": "****", "MODE": "fast"}, "key": "sagemaker.bucket",
        "env": [{"name": "CLIENT_SECRET", "value": "****"}, {"name": "LEVEL", "value": "3"}]}
