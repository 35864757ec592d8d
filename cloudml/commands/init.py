"""``cloudml init FRAMEWORK [DIR]``: copy ``cloudml/templates/<framework>/`` into DIR.

Invariants: the frameworks offered are the template folders that exist (package data), so a new template needs
no code here; nothing is overwritten without ``--force`` (the refusal lists the files, exit 2); the scaffold
trains and serves on ``local`` as generated (tests run it).
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import click

from cloudml.commands._common import echo, echo_json, output
from cloudml.errors import ValidationError

SKIP = ("__pycache__", ".pyc", ".DS_Store")
ALIASES = {"torch": "pytorch", "pt": "pytorch", "tf": "tensorflow", "keras": "tensorflow"}


def templates_root() -> Any:
    return resources.files("cloudml") / "templates"


def available() -> list[str]:
    root = templates_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _files(folder: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if any(item.name.endswith(s) or item.name == s for s in SKIP):
            continue
        rel = prefix + item.name
        out += _files(item, rel + "/") if item.is_dir() else [(rel, item)]
    return out


def scaffold(framework: str, dest: Path, force: bool = False) -> list[str]:
    """Copy the template for ``framework`` into ``dest``; returns the relative paths written."""
    name = ALIASES.get(framework.lower(), framework.lower())
    known = available()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        raise ValidationError("framework", f"no template for {framework!r}",
                              (f"did you mean {close[0]}? " if close else "") + "available: " + ", ".join(known))
    files = _files(templates_root() / name)
    clash = [rel for rel, _ in files if (dest / rel).exists()]
    if clash and not force:
        raise ValidationError(str(dest), "would overwrite " + ", ".join(clash), "choose another folder or pass --force")
    for rel, item in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.read_bytes())
    return [rel for rel, _ in files]


@click.command()
@click.argument("framework", metavar="FRAMEWORK")
@click.argument("directory", default=".", metavar="[DIR]")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.pass_context
def init(ctx: click.Context, framework: str, directory: str, force: bool) -> None:
    """Scaffold a project in DIR (default: here) from the FRAMEWORK template: train.py, job.yaml,
    requirements.txt, a small dataset in data/, and inference.py where the model needs one (a TensorFlow
    SavedModel serves without). Templates: the folders in cloudml/templates."""
    out = output(ctx)
    dest = Path(directory)
    written = scaffold(framework, dest, force)
    job_yaml = dest / "job.yaml"
    if out.json:
        echo_json({"directory": str(dest), "files": written})
    elif out.quiet:
        echo(str(dest))
    else:
        echo(f"created {dest}/: " + ", ".join(written))
        if job_yaml.is_file():
            echo(f"next:\n  cloudml train {job_yaml} --provider local        # train here, for real"
                 f"\n  cloudml train {job_yaml} -p sagemaker --dry-run -C region=us-east-1 -C bucket=my-bucket"
                 " -C role_arn=arn:aws:iam::123456789012:role/SageMakerRole"
                 "    # see what a cloud run would send (any names: nothing is sent)")
