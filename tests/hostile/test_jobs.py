"""Probes on submitting jobs, on local and every rig: the same ``job_name`` with another spec is an error (it used
to return the old job's model silently), the identical spec is idempotent; secrets given in ``environment=``,
hyperparameters under secret-looking keys and secret variables inherited from the caller's environment never
appear in what is printed nor in the logs the provider stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudml.errors import ValidationError
from tests.conformance.suite import Rig
from tests.hostile.conftest import TELLTALE, estimator, project, race_submits

DB_PASSWORD = "db-pw-Zq81XkLmT0"
API_TOKEN = "hp-token-Rt55Vb9xQ2"
HF_TOKEN = "hf_" + "Ab3" * 12
GITHUB_TOKEN = "ghp_" + "Zz9" * 12


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return project(tmp_path / "src", {"train.py": TELLTALE})


def _stored_logs(job: Any) -> list[str]:
    lines, _ = job.provider.read_logs(job.name, None)
    return lines


def test_same_job_name_with_another_spec_is_refused_and_identical_is_idempotent(
        cloud: Rig, src: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    name = "hostile-same-name"
    hps = {"epochs": 1, "api_token": API_TOKEN}
    first = estimator(cloud, src, hyperparameters=hps, environment={"DB_PASSWORD": DB_PASSWORD})
    job = first.fit(job_name=name)
    printed = capsys.readouterr().out
    assert "environment secret: ****" in printed, printed
    stored = "\n".join(_stored_logs(job))
    for secret in (DB_PASSWORD, API_TOKEN, HF_TOKEN, GITHUB_TOKEN):
        assert secret not in printed, f"{secret} printed"
        assert secret not in stored, f"{secret} in the provider's stored logs"

    again = estimator(cloud, src, hyperparameters=hps, environment={"DB_PASSWORD": DB_PASSWORD})
    assert again.fit(job_name=name, wait=False).name == name, "the identical spec returns the same job"

    other = estimator(cloud, src, hyperparameters={**hps, "epochs": 2}, environment={"DB_PASSWORD": DB_PASSWORD})
    with pytest.raises(ValidationError) as caught:
        other.fit(job_name=name)
    assert caught.value.field == "job_name" and "different spec" in str(caught.value)
    assert "epochs" in str(caught.value)
    assert API_TOKEN not in str(caught.value)


def test_different_code_under_the_same_name_is_refused(cloud: Rig, src: Path, tmp_path: Path) -> None:
    estimator(cloud, src).fit(job_name="hostile-code-name", logs=False)
    changed = project(tmp_path / "changed", {"train.py": TELLTALE + "\nprint('changed')\n"})
    with pytest.raises(ValidationError) as caught:
        estimator(cloud, changed).fit(job_name="hostile-code-name", logs=False)
    assert caught.value.field == "job_name"


def test_twenty_thousand_hyperparameters_are_refused_before_anything_runs(local_rig: Rig, src: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        estimator(local_rig, src, hyperparameters={f"key{i}": i for i in range(20_000)})
    assert caught.value.field == "hyperparameters" and "KiB" in str(caught.value)
    assert not (Path(local_rig.options["root"]) / "jobs").exists()


def test_thousands_of_hyperparameters_with_secrets_run_and_are_masked_in_logs_txt(local_rig: Rig, src: Path) -> None:
    hps: dict[str, Any] = {f"k{i}": i for i in range(4_000)}
    hps.update({f"s{i}_secret": f"value-{i:08d}" for i in range(300)})
    job = estimator(local_rig, src, hyperparameters=hps).fit(logs=False)
    text = Path(job.describe().extra["job_dir"], "logs.txt").read_text()
    assert "hyperparameters:" in text and "--k3999 3999" in text
    assert "value-00000007" not in text and "value-00000299" not in text


def test_tokens_a_script_prints_are_masked_in_logs_txt(local_rig: Rig, tmp_path: Path) -> None:
    tokens = ["ghp_" + "Q1w2E3r4T5" * 4, "xoxb-1234567890-ABCDEFGHIJ", "sk_live_" + "Z" * 24,
              "sk-proj-" + "P0o9I8u7Y6" * 3, "AKIAQWERTYUIOPASDFGH"]
    script = "\n".join(f"print('token:', {t!r}, flush=True)" for t in tokens)
    script += "\nprint('url: https://me:hunter2pass@pypi.example.com/simple', flush=True)\n" + TELLTALE
    src = project(tmp_path / "printer", {"train.py": script})
    job = estimator(local_rig, src, allow_secrets=True).fit(logs=False)  # the bundle would refuse them
    text = Path(job.describe().extra["job_dir"], "logs.txt").read_text()
    assert text.count("token: ****") == len(tokens), text
    assert "hunter2pass" not in text and "https://me:****@pypi.example.com" in text


def test_a_token_for_a_cloud_endpoint_is_refused_clearly(cloud: Rig) -> None:
    from cloudml import providers
    from cloudml.endpoints import Endpoint

    prov = providers.get(cloud.provider, **cloud.options)
    if cloud.provider == "local":
        assert Endpoint(prov, "some-endpoint", token="t" * 16).name == "some-endpoint"
        return
    with pytest.raises(ValidationError) as caught:
        Endpoint(prov, "some-endpoint", token="t" * 16)
    assert caught.value.field == "token"


@pytest.mark.parametrize("cloud", ["local", "vertex"], indirect=True)
def test_two_concurrent_submits_of_one_name_make_one_job_and_one_clear_error(cloud: Rig, src: Path) -> None:
    """SageMaker and Azure ML refuse a second job of one name themselves (ResourceInUse / a conflict), which the
    providers turn into this same error; their rigs (moto, the fake Azure ML) accept the second create, so there
    the providers can only narrow the race by reading the job back after creating it: not probed on them."""
    results = race_submits(cloud, src, "hostile-raced", [{"hyperparameters": {"who": i}} for i in range(2)])
    errors = [r for r in results.values() if isinstance(r, Exception)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], ValidationError) and errors[0].field == "job_name", errors[0]
    winner = next(r for r in results.values() if not isinstance(r, Exception))
    info = winner.wait(logs=False)  # type: ignore[attr-defined]
    assert info.name == "hostile-raced" and set(info.hyperparameters) == {"who"}
    live = [j for j in winner.provider.list_jobs() if j.name == "hostile-raced" and j.state.value != "Stopped"]  # type: ignore[attr-defined]
    assert len(live) == 1, live
