"""Issue 17 items 9 and 10: what the CLI says matches what happened, and the reader of a pipe may leave early."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.cli.helpers import REPO


def test_deleting_a_missing_endpoint_does_not_say_deleted(cli) -> None:
    run = cli("endpoints delete no-such-endpoint-17")
    assert run.code == 0, run.stderr                      # safe to repeat, as documented
    assert "deleted" not in run.stdout and "nothing to delete" in run.stdout
    assert cli("--json endpoints delete no-such-endpoint-17").json == {"deleted": [], "not_found": ["no-such-endpoint-17"]}


# a command printing line by line, as `cloudml jobs logs J` does, added to the real group in a child interpreter
_MANY_LINES = """
import click
from cloudml.cli import main

@main.command("many-lines")
def many_lines():
    from cloudml.commands._common import echo
    for i in range(200000):
        echo(f"line {i}")

main(prog_name="cloudml")
"""


def test_a_closed_pipe_ends_quietly() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _MANY_LINES, "many-lines"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()                                   # what `| head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode == 141
