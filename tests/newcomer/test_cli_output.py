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


_CREDENTIAL_FAILURE = """
import logging
from cloudml.cli import main
from cloudml.errors import CredentialsError

@main.command("sign-in")
def sign_in():
    log = logging.getLogger("azure.identity._credentials.chained")
    for name in ("EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential",
                 "AzureCliCredential"):
        log.warning("%s: unavailable", name)    # what DefaultAzureCredential logs before it gives up
    raise CredentialsError("no usable Azure credentials: run az login")

main(prog_name="cloudml")
"""


def test_credential_failure_is_one_line_without_sdk_chatter() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", _CREDENTIAL_FAILURE, "sign-in"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == ["Error: no usable Azure credentials: run az login"], run.stderr
    debug = subprocess.run([sys.executable, "-c", _CREDENTIAL_FAILURE, "--debug", "sign-in"], capture_output=True,
                           text=True, env=env, timeout=60)
    assert "EnvironmentCredential: unavailable" in debug.stderr
