"""``cloudml doctor``: what is installed, which credentials would be found, what is wrong with the settings.

Invariants:
- versions come from package metadata (``importlib.metadata``): no cloud SDK, torch or TensorFlow is imported;
- credentials are looked for, never read: the report names the environment variable or file that would be used,
  never a value or a file's content;
- exit code 0 when the settings have no problem, 1 when they have (each problem says what to change); missing
  credentials are reported but are not a failure (you may not use that provider), except for the default
  provider's (every command without ``--provider`` would fail).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from cloudml.commands._common import echo, echo_json, output

#: extra -> distributions it installs (kept equal to pyproject.toml by a test); alternatives that also satisfy one
EXTRAS: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "numpy"),
    "tensorflow": ("tensorflow-cpu", "numpy"),
    "sagemaker": ("boto3", "sagemaker-core"),
    "vertex": ("google-cloud-aiplatform", "google-cloud-storage"),
    "azureml": ("azure-ai-ml", "azure-identity", "azure-storage-blob"),
    "plot": ("matplotlib",),
}
ALTERNATIVES = {"tensorflow-cpu": ("tensorflow", "tensorflow-macos")}
EXTRA_OF_PROVIDER = {"sagemaker": "sagemaker", "vertex": "vertex", "azureml": "azureml"}


def _version(dist: str) -> str | None:
    for name in (dist, *ALTERNATIVES.get(dist, ())):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def extras() -> list[dict[str, Any]]:
    rows = []
    for extra, dists in EXTRAS.items():
        versions = {d: _version(d) for d in dists}
        rows.append({"extra": extra, "installed": all(versions.values()), "packages": versions,
                     "install": f"pip install 'cloudml[{extra}]'"})
    return rows


def _file(path: str | os.PathLike[str]) -> str | None:
    p = Path(os.path.expanduser(path))
    return str(p) if p.is_file() else None


def credentials(env: Any = None) -> dict[str, dict[str, Any]]:
    """provider -> {"found": [where...], "hint": how to set some up}. Names variables and files only."""
    env = os.environ if env is None else env
    home = Path(os.path.expanduser("~"))

    def present(*names: str) -> list[str]:
        return [f"env {n}" for n in names if env.get(n)]

    aws = present("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    for f in (env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials",
              env.get("AWS_CONFIG_FILE") or home / ".aws" / "config"):
        if _file(f):
            aws.append(f"file {_file(f)}")
    gcp = present("GOOGLE_APPLICATION_CREDENTIALS") if _file(env.get("GOOGLE_APPLICATION_CREDENTIALS") or "/nonexistent") else []
    gcloud = Path(env.get("CLOUDSDK_CONFIG") or home / ".config" / "gcloud")
    if _file(gcloud / "application_default_credentials.json"):
        gcp.append(f"file {gcloud / 'application_default_credentials.json'}")
    azure = []
    if env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID") and (
            env.get("AZURE_CLIENT_SECRET") or env.get("AZURE_CLIENT_CERTIFICATE_PATH") or env.get("AZURE_FEDERATED_TOKEN_FILE")):
        azure.append("env AZURE_CLIENT_ID/AZURE_TENANT_ID (service principal)")
    azure += present("IDENTITY_ENDPOINT", "MSI_ENDPOINT")
    azdir = Path(env.get("AZURE_CONFIG_DIR") or home / ".azure")
    for name in ("msal_token_cache.json", "msal_token_cache.bin", "azureProfile.json"):
        if _file(azdir / name):
            azure.append(f"file {azdir / name} (az login)")
            break
    return {
        "sagemaker": {"found": aws, "hint": "aws configure / aws sso login, or AWS_PROFILE / AWS_ACCESS_KEY_ID"},
        "vertex": {"found": gcp, "hint": "gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS"},
        "azureml": {"found": azure, "hint": "az login, or AZURE_CLIENT_ID + AZURE_TENANT_ID + AZURE_CLIENT_SECRET"},
        "local": {"found": ["none needed"], "hint": ""},
    }


def config_problems() -> list[str]:
    """The file's own problems, then each configured provider refusing its options (constructors do no I/O)."""
    from cloudml import config, providers
    from cloudml.errors import CloudMLError

    found = config.problems()
    try:
        cfg = config.load()
    except CloudMLError:
        return found
    for name in sorted(set(cfg.sections) & set(providers.available())):
        try:
            providers.get(name, **config.provider_options(name, config=cfg))
        except CloudMLError as exc:
            found.append(f"[{name}] in {cfg.path}: {exc}")
    return found


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format (--json on the group sets json).")
@click.pass_context
def doctor(ctx: click.Context, fmt: str) -> None:
    """Installed extras and SDK versions, credentials that would be used (never shown), settings problems."""
    from cloudml import __version__, config
    from cloudml.errors import ConfigurationError

    out = output(ctx)
    try:
        default = config.default_provider()
    except ConfigurationError:  # reported under problems
        default = "unknown (settings file unreadable)"
    report: dict[str, Any] = {
        "cloudml": __version__, "python": platform.python_version(), "executable": sys.executable,
        "config_file": str(config.config_path()), "default_provider": default,
        "extras": extras(), "credentials": credentials(), "problems": config_problems(),
    }
    creds = report["credentials"].get(default)
    if creds is not None and not creds["found"]:  # the provider every command uses by default cannot sign in
        report["problems"].append(f"the default provider {default} has no credentials: {creds['hint']} "
                                  "(or change it: cloudml config set defaults.provider local)")
    if fmt == "json" or out.json:
        echo_json(report)
    else:
        _print(report)
    if report["problems"]:
        ctx.exit(1)


def _print(report: dict[str, Any]) -> None:
    ok, bad = "ok ", "-- "
    echo(f"cloudml {report['cloudml']} on Python {report['python']} ({report['executable']})")
    echo(f"settings: {report['config_file']} (default provider: {report['default_provider']})")
    echo("\nextras:")
    for row in report["extras"]:
        packages = ", ".join(f"{d} {v}" if v else f"{d} missing" for d, v in row["packages"].items())
        tail = "" if row["installed"] else f"   -> {row['install']}"
        echo(f"  {ok if row['installed'] else bad}{row['extra']:<11} {packages}{tail}")
    echo("\ncredentials (values never shown):")
    for provider, c in report["credentials"].items():
        if c["found"]:
            echo(f"  {ok}{provider:<11} {'; '.join(c['found'])}")
        else:
            echo(f"  {bad}{provider:<11} none found -> {c['hint']}")
    echo("\nsettings problems:" if report["problems"] else "\nsettings: no problems found")
    for problem in report["problems"]:
        echo(f"  {bad}{problem}")
