"""Hypothesis over everything a user types (issue 10): accelerator strings, ``Resources``, hyperparameters, channel
URIs, YAML job specs and CLI arguments. Each accepts the input or raises a documented ``CloudMLError`` -- never
another exception, never a cloud call (``conftest.py`` refuses sockets and subprocesses). 1,000 examples each."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudml import accelerators, jobspec
from cloudml.accelerators import ACCELERATORS
from cloudml.errors import CloudMLError
from cloudml.spec import Resources, SourceCode, TrainingSpec
from tests.properties.conftest import CloudCall

EXAMPLES = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
PROJECT = Path(__file__).resolve().parents[1] / "projects" / "regression"
SCHEMES = {"local": (), "sagemaker": ("s3",), "vertex": ("gs",), "azureml": ("azureml", "https", "wasbs")}

names = st.sampled_from(sorted(ACCELERATORS) + ["a100", "h100-80gb", "tpu_v5e", "T4", "v100", "nvidia-l4", "K80"])
accelerator_text = st.one_of(
    st.builds(lambda n, sep, c: f"{n}{sep}{c}", names, st.sampled_from([":", "::", " : ", ":x", ""]),
              st.one_of(st.integers(-3, 1000), st.text(max_size=4))),
    names, st.text(max_size=25), st.binary(max_size=8).map(lambda b: b.decode("latin-1")),
)
anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                     st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
hashable = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def accepts_or_refuses(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; a ``CloudMLError`` is a refusal, anything else (bar success) fails the property."""
    try:
        return fn(*args, **kwargs)
    except CloudCall:
        raise
    except CloudMLError as exc:
        assert str(exc), "a refusal says why"
        return exc


@EXAMPLES
@given(accelerator_text)
def test_accelerator_strings(text: str) -> None:
    out = accepts_or_refuses(accelerators.parse, text)
    if not isinstance(out, CloudMLError):
        name, count = out
        assert name in ACCELERATORS and count >= 1


@EXAMPLES
@given(st.fixed_dictionaries({}, optional={
    "instance_type": st.one_of(st.text(max_size=20), anything), "accelerator": st.one_of(accelerator_text, anything),
    "spot": anything, "max_hourly_usd": st.one_of(st.floats(), anything), "max_total_usd": anything,
    "min_accelerator_memory_gib": anything, "min_vcpus": anything, "min_memory_gib": anything,
    "region": st.one_of(st.sampled_from(["us-east-1", "us-central1", "eastus", "EU WEST", ""]), anything),
    "volume_gb": anything}))
def test_resources(kwargs: dict[str, Any]) -> None:
    out = accepts_or_refuses(Resources, **kwargs)
    if isinstance(out, Resources) and out.max_hourly_usd is not None:
        assert not math.isnan(out.max_hourly_usd)


def spec_with(**kwargs: Any) -> TrainingSpec:
    return TrainingSpec(source=SourceCode("train.py", str(PROJECT)), framework_version="2.4", job_name="prop-job",
                        **kwargs)


@EXAMPLES
@given(st.one_of(st.dictionaries(st.text(max_size=12), json_values, max_size=5),
                 st.dictionaries(hashable, anything, max_size=3), anything),
       st.one_of(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=3), anything))
def test_hyperparameters_and_environment(hps: Any, env: Any) -> None:
    spec = accepts_or_refuses(spec_with, hyperparameters=hps, environment=env)
    if isinstance(spec, TrainingSpec):
        accepts_or_refuses(spec.validate, ())


uris = st.one_of(
    st.builds(lambda s, rest: f"{s}{rest}", st.sampled_from(["s3://", "gs://", "azureml://", "https://", "wasbs://",
                                                             "file://", "ftp://", "S3://", "s3:/", "", "/", "../"]),
              st.text(max_size=25)),
    st.text(max_size=30), anything)


@EXAMPLES
@given(st.one_of(st.dictionaries(st.one_of(st.text(max_size=10), hashable), uris, max_size=3), anything), st.sampled_from(sorted(SCHEMES)))
def test_channel_uris(channels: Any, provider: str) -> None:
    spec = accepts_or_refuses(spec_with, channels=channels)
    if isinstance(spec, TrainingSpec):
        accepts_or_refuses(spec.validate, SCHEMES[provider])


keys = st.sampled_from([*jobspec.SCHEMA, "resource", "hyperparameter", "deploy", "nonsense", "ON"])
job_docs = st.dictionaries(keys, st.one_of(json_values, st.dictionaries(
    st.sampled_from([*jobspec.RESOURCES, *jobspec.DEPLOY, "x"]), json_values, max_size=3)), max_size=6)


@EXAMPLES
@given(st.one_of(job_docs.map(lambda d: yaml.safe_dump(d, allow_unicode=True)), st.text(max_size=80)),
       st.lists(st.text(max_size=20), max_size=2))
def test_yaml_job_specs(text: str, sets: list[str]) -> None:
    job = accepts_or_refuses(jobspec.parse, text, PROJECT / "job.yaml", sets)
    if isinstance(job, jobspec.JobFile):
        est = accepts_or_refuses(job.estimator, "local")
        if not isinstance(est, CloudMLError):
            accepts_or_refuses(lambda: (job.inputs, job.deploy))


WORDS = ["cost", "instances", "catalog", "show", "validate", "cleanup", "jobs", "endpoints", "list", "describe",
         "config", "get", "--accelerator", "A100:8", "--provider", "-p", "sagemaker", "vertex", "bogus",
         "--objective", "cheapest-to-finish", "--spot", "--max-hourly", "-1", "1e9", "nan", "--json", "--format",
         "csv", "--older-than", "1d", "10x", "--dry-run", "--region", "us-east-1", "--count", "0", "--hours", "x",
         "-C", "region=", "--tflop", "3e6", "--help", "", "--", "--quiet"]
SAFE = ("cost", "instances", "catalog", "cleanup", "config")   # commands that never start a job or a server


@EXAMPLES
@given(st.sampled_from(SAFE), st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), max_size=7))
def test_cli_arguments(command: str, argv: list[str]) -> None:
    if command == "config" and argv[:1] not in (["show"], ["get"], ["path"]):
        argv = ["show", *argv]
    if command == "cleanup":
        argv = [*argv, "--dry-run", "-p", "local"]
    from cloudml.cli import main

    result = CliRunner().invoke(main, ["--debug", command, *argv])
    exc = result.exception
    if isinstance(exc, CloudCall):
        raise exc
    assert exc is None or isinstance(exc, (SystemExit, CloudMLError)), f"{argv}: {exc!r}"
