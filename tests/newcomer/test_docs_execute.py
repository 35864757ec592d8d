"""Every shell command and Python block in README.md and docs/*.md is executed (issue 17).

Blocks are found generically (fenced ```bash / ```sh / ```python / ```yaml), so a doc added later is covered
without touching this file. Per block, in one shared scratch folder and settings folder, in document order:

- a ``cloudml ...`` line runs in-process through the real CLI; ``JOB`` / ``ENDPOINT`` are the names the
  documented ``train`` / ``deploy`` lines printed before; it must exit 0;
- a Python block on ``provider="local"`` runs for real; a cloud one runs up to its first ``.fit(``, which runs as
  ``.prepare(``: everything but the submission (validation, planning, settings), offline;
- a YAML block is a job YAML: it is loaded and validated by ``cloudml.jobspec``;
- anything else must be in ``SKIP`` with the reason it cannot run offline; an unknown command fails the test.
The local training job runs once (the CLI quick start), on the tiny example.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: command prefixes that cannot run offline, each with its reason
SKIP: dict[str, str] = {
    "scripts/demo": "creates .venv and installs every extra from PyPI (CI runs it through scripts/test)",
    "scripts/test": "installs .venv and Azurite, then runs the whole suite (this test is part of it)",
    ".venv/bin/python -m benchmarks": "minutes of measurements on an idle machine; not a test (benchmarks/)",
    "tox -e bench": "the benchmarks again, under tox",
    "cloudml catalog refresh": "calls the AWS, Google and Azure price APIs over the internet",
    "cloudml cost plot": "needs the plot extra (matplotlib); its output is an image file",
    "cloudml train demo/job.yaml --set resources.spot=true": "submits to SageMaker (defaults.provider): needs an "
                                                               "AWS account",
    "cloudml jobs logs -f JOB": "follows a SageMaker job (defaults.provider): needs an AWS account",
    "cloudml jobs outputs JOB ./job-outputs": "downloads a SageMaker job's outputs (defaults.provider): needs an AWS "
                                              "account (tests/cli/test_jobs_outputs.py runs it on local)",
    "cloudml deploy JOB --instance-type ml.m5.xlarge": "creates a SageMaker endpoint: needs an AWS account",
    "cloudml cleanup -p sagemaker": "lists and deletes on an AWS account",
    "cloudml cleanup --dry-run": "lists every configured provider's account (after the README's SageMaker settings)",
}


def blocks() -> Iterator[tuple[str, str, str]]:
    for doc in DOCS:
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", doc.read_text(), flags=re.S | re.M):
            yield doc.name, m.group(1), m.group(2)


def commands(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()   # trailing comments (never inside the documented quotes)
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _skipped(command: str) -> str | None:
    return next((why for prefix, why in SKIP.items() if command.startswith(prefix)), None)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    shutil.copytree(REPO / "examples", folder / "examples")
    (folder / "src").mkdir()
    shutil.copy(REPO / "examples" / "pytorch_regression" / "train.py", folder / "src" / "train.py")
    return folder


def test_every_block_is_executable_or_skipped_with_a_reason() -> None:
    kinds = {kind for _, kind, _ in blocks()}
    assert {"bash", "python"} <= kinds
    for doc, kind, text in blocks():
        if kind in ("bash", "sh", "console"):
            for command in commands(text):
                assert command.startswith("cloudml ") or _skipped(command), \
                    f"{doc}: {command!r} is neither a cloudml command nor in SKIP (say why it cannot run)"


def test_shell_commands_run_as_written(cli, scratch: Path, monkeypatch: pytest.MonkeyPatch,
                                       endpoints_to_delete: list[str]) -> None:
    monkeypatch.chdir(scratch)
    # the README configures SageMaker for a reader who has AWS credentials; doctor checks that some exist (never
    # their value) and the dry runs send nothing
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "docs-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "docs-test")
    names: dict[str, str] = {}
    ran = 0
    for doc, kind, text in blocks():
        if kind not in ("bash", "sh", "console"):
            continue
        for command in commands(text):
            if _skipped(command):
                continue
            argv = shlex.split(command)[1:]
            argv = [names.get(a, a) for a in argv]
            if argv[:1] == ["train"] and "--dry-run" not in argv and "--detach" not in argv:
                argv = ["--json", *argv]
            if argv[:1] == ["deploy"]:
                argv = ["--json", *argv]
            run = cli(*argv)
            assert run.code == 0, f"{doc}: {command!r} exited {run.code}: {run.stderr[-2000:]}"
            if argv[:2] == ["--json", "train"]:
                names["JOB"] = run.json["job"]
            if argv[:2] == ["--json", "deploy"]:
                names["ENDPOINT"] = run.json["name"]
                endpoints_to_delete.append(run.json["name"])
            ran += 1
    assert ran >= 20 and {"JOB", "ENDPOINT"} <= set(names)


def _cloud(text: str) -> bool:
    return re.search(r"provider=\"(sagemaker|vertex|azureml)\"", text) is not None


@pytest.mark.parametrize("doc", [d.name for d in DOCS])
def test_python_blocks_run(doc: str, scratch: Path, monkeypatch: pytest.MonkeyPatch,
                           endpoints_to_delete: list[str]) -> None:
    """A document's Python blocks run in order in one namespace, as a reader pastes them into one session."""
    monkeypatch.chdir(scratch)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for name, kind, text in blocks():
        if name != doc or kind != "python":
            continue
        code = text
        if _cloud(text) and ".fit(" in text:  # everything but the submission: fit's line as prepare, offline
            head, _, rest = text.partition(".fit(")
            code = head + ".prepare(" + rest.split("\n", 1)[0] + "\n"
        exec(compile(code, f"<{doc}>", "exec"), namespace)  # noqa: S102 - the documented snippet itself


def test_yaml_blocks_are_valid_job_files(scratch: Path) -> None:
    from cloudml import jobspec

    found = 0
    for _doc, kind, text in blocks():
        if kind != "yaml":
            continue
        folder = scratch / f"yaml{found}"
        folder.mkdir()
        (folder / "train.py").write_text("print('hi')\n")
        (folder / "data").mkdir()
        (folder / "job.yaml").write_text(text)
        jobspec.load(folder / "job.yaml")
        found += 1
    assert found
