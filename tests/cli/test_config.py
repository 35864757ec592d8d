"""Settings: the file, its precedence under environment variables and flags, masking, and the Estimator using it."""

from __future__ import annotations

import os
import stat

import pytest

from cloudml import Estimator, config
from cloudml.errors import ConfigurationError
from tests.cli.helpers import PROJECTS, regression_job


def test_set_show_unset_round_trip_with_secrets_masked(cli, _own_settings):
    assert cli("config set sagemaker.bucket my-bucket").code == 0
    r = cli("config", "set", "vertex.credentials", "tok-very-secret")
    assert r.code == 0 and "tok-very-secret" not in r.stdout and "****" in r.stdout
    assert cli("config set defaults.provider sagemaker").code == 0
    path = _own_settings / "config.ini"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "bucket = my-bucket" in path.read_text()

    r = cli("config show")
    assert r.code == 0 and "my-bucket" in r.stdout and "tok-very-secret" not in r.stdout
    rows = cli("config show --format json").json["settings"]
    assert {"section": "vertex", "key": "credentials", "value": "****", "source": "file"} in rows
    assert {"section": "defaults", "key": "provider", "value": "sagemaker", "source": "file"} in rows

    assert cli("config unset vertex.credentials").stdout.startswith("removed")
    assert "credentials" not in path.read_text()
    assert "was not set" in cli("config unset vertex.credentials").stdout
    assert cli("config path").stdout.strip() == str(path)


@pytest.mark.parametrize("args, needle", [
    ("config set sagemkaer.bucket x", "did you mean 'sagemaker'"),
    ("config set defaults.provdier local", "did you mean 'provider'"),
    ("config set defaults.provider vertx", "did you mean 'vertex'"),
    ("config set bucket x", "is not SECTION.KEY"),
])
def test_bad_keys_exit_2_with_a_suggestion(cli, args, needle):
    r = cli(args)
    assert r.code == 2 and needle in r.stderr


def test_environment_overrides_file_and_code_overrides_both(monkeypatch, _own_settings, tmp_path):
    monkeypatch.delenv("CLOUDML_LOCAL_ROOT")
    config.set_value("local.root", str(tmp_path / "from-file"))
    assert config.provider_options("local") == {"root": str(tmp_path / "from-file")}
    est = Estimator("train.py", PROJECTS / "regression", provider="local")
    assert est.provider.root == tmp_path / "from-file"

    monkeypatch.setenv("CLOUDML_LOCAL_ROOT", str(tmp_path / "from-env"))
    assert config.provider_options("local") == {"root": str(tmp_path / "from-env")}
    assert Estimator("train.py", PROJECTS / "regression", provider="local").provider.root == tmp_path / "from-env"
    shown = config.effective()["local"]["root"]
    assert shown == (str(tmp_path / "from-env"), "CLOUDML_LOCAL_ROOT")

    est = Estimator("train.py", PROJECTS / "regression", provider="local",
                    provider_options={"root": str(tmp_path / "from-code")})
    assert est.provider.root == tmp_path / "from-code"


def test_default_provider_comes_from_settings_then_environment(monkeypatch, cli, tmp_path):
    assert config.default_provider() == "local"
    config.set_value("defaults.provider", "local")
    assert Estimator("train.py", PROJECTS / "regression").provider_name == "local"
    monkeypatch.setenv("CLOUDML_DEFAULT_PROVIDER", "nope")
    assert config.default_provider() == "nope"
    r = cli("train", str(regression_job(tmp_path)), "--dry-run")
    assert r.code == 2 and "unknown provider 'nope'" in r.stderr


def test_cli_flags_beat_settings(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("CLOUDML_LOCAL_ROOT")
    config.set_value("local.root", str(tmp_path / "configured"))
    job_yaml = regression_job(tmp_path)
    r = cli("--json", "train", str(job_yaml), "--dry-run")
    assert r.json["request"]["code_uri"].startswith(str(tmp_path / "configured" / "bundles") + "/")
    r = cli("--json", "train", str(job_yaml), "--dry-run", "-C", f"root={tmp_path / 'flag'}")
    assert r.json["request"]["code_uri"].startswith(str(tmp_path / "flag" / "bundles") + "/")
    r = cli("--json", "jobs", "list", "-C", f"root={tmp_path / 'empty'}")
    assert r.code == 0 and r.json == []


def test_malformed_file_names_the_file(cli, _own_settings):
    _own_settings.mkdir(parents=True, exist_ok=True)
    (_own_settings / "config.ini").write_text("[local\nroot = x\n")
    with pytest.raises(ConfigurationError, match="config.ini"):
        config.load()
    r = cli("config show")
    assert r.code == 2 and "config.ini" in r.stderr
    r = cli("doctor")
    assert r.code == 1 and "config.ini" in r.stdout


def test_doctor_reports_problems_and_never_prints_secrets(cli, _own_settings, monkeypatch, tmp_path):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = SHOULD-NOT-APPEAR\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAABCDEFGHIJKLMNOP")
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_ID", "CLOUDSDK_CONFIG", "AZURE_CONFIG_DIR",
                "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    r = cli("doctor")
    assert r.code == 0, r.stdout + r.stderr
    assert "env AWS_ACCESS_KEY_ID" in r.stdout and str(home / ".aws" / "credentials") in r.stdout
    assert "AKIAABCDEFGHIJKLMNOP" not in r.stdout and "SHOULD-NOT-APPEAR" not in r.stdout
    assert "none found" in r.stdout and "settings: no problems found" in r.stdout

    _own_settings.mkdir(parents=True, exist_ok=True)
    (_own_settings / "config.ini").write_text("[sagemkaer]\nbucket = b\n[defaults]\nprovider = vertx\n"
                                              "[local]\napi_key = SECRET-IN-FILE\n")
    os.chmod(_own_settings / "config.ini", 0o644)
    r = cli("--json", "doctor")
    assert r.code == 1
    report = r.json
    problems = " | ".join(report["problems"])
    assert "unknown section [sagemkaer]" in problems and "did you mean 'sagemaker'" in problems
    assert "'vertx' is not a provider" in problems and "chmod 600" in problems
    assert "SECRET-IN-FILE" not in r.stdout
    torch = next(e for e in report["extras"] if e["extra"] == "torch")
    assert torch["installed"] and torch["packages"]["torch"].startswith("2.")


def test_doctor_extras_match_pyproject():
    import tomllib

    from cloudml.commands.doctor import EXTRAS

    with open(PROJECTS.parents[1] / "pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    for name, dists in EXTRAS.items():
        declared = [dep.split(">")[0].split("=")[0].split("[")[0].strip() for dep in extras[name]]
        assert tuple(declared) == dists, name
