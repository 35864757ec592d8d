"""Issue 17 item 6: `jobs list` / `endpoints list` tables never shorten a name (the thing users copy), at 80 or
200 columns, whatever else the rows hold; the table is plain text like the cost commands'."""

from __future__ import annotations

import io
import sys

import pytest

from cloudml.commands._common import emit_rows

NAME = "train-2026-12-01-22-17-19-a1b2c3d4"
COLUMNS = [("name", "name"), ("state", "state"), ("created", "created"), ("duration", "duration"),
           ("instance_type", "instance"), ("instance_count", "count"), ("cost", "cost"), ("model_uri", "model")]


class _Terminal(io.StringIO):
    """A stdout that says it is a terminal, as a user's is."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("width", ["80", "200"])
def test_names_and_uris_are_whole(monkeypatch, width: str) -> None:
    monkeypatch.setenv("COLUMNS", width)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    uri = "s3://my-bucket/cloudml/" + NAME + "/output/model.tar.gz"
    rows = [{"name": NAME + str(i), "state": "Completed", "created": "2026-12-01 22:17:19", "duration": "1m02s",
             "instance_type": "ml.g5.12xlarge", "instance_count": 1, "cost": "$0.12", "model_uri": uri}
            for i in range(3)]
    emit_rows(rows, COLUMNS, "table", "Jobs on sagemaker", "no jobs")
    text = terminal.getvalue()
    for i in range(3):
        assert NAME + str(i) in text, text
    assert "…" not in text and "..." not in text, text
    assert text.count(uri) == 3, text


def test_endpoint_names_are_whole_at_200_columns(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    name = "ep-" + NAME
    url = f"https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/{name}/invocations"
    rows = [{"name": name, "state": "InService", "created": "2026-12-01 22:17:19", "instance_type": "ml.m5.xlarge",
             "min_replicas": 1, "max_replicas": 3, "url": url, "model_uri": f"s3://b/cloudml/{NAME}/model.tar.gz"}]
    emit_rows(rows, [("name", "name"), ("state", "state"), ("created", "created"), ("instance_type", "instance"),
                     ("min_replicas", "min"), ("max_replicas", "max"), ("url", "url"), ("model_uri", "model")],
              "table", "Endpoints on sagemaker", "no endpoints")
    assert name in terminal.getvalue() and url in terminal.getvalue(), terminal.getvalue()
