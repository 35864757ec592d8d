"""The provider registry: lazy targets, registration, entry points, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudml import providers
from cloudml.errors import MissingDependencyError, UnknownProviderError, ValidationError
from cloudml.providers.base import Feature, Provider
from cloudml.providers.local import LocalProvider


def test_local_is_built_in_and_the_registry_is_read_only() -> None:
    assert "local" in providers.available()
    assert isinstance(providers.get("local", root="/tmp/x"), LocalProvider)
    with pytest.raises(TypeError):
        providers.registry["evil"] = "os:system"  # type: ignore[index]


def test_register_a_provider_class_and_refuse_clobbering() -> None:
    class Dummy(LocalProvider):
        name = "dummy"

    providers.register_provider("dummy", Dummy)
    try:
        assert providers.get_class("dummy") is Dummy
        with pytest.raises(ValidationError, match="already registered"):
            providers.register_provider("dummy", "os:path")
    finally:
        providers._registry.pop("dummy", None)
        providers._classes.pop("dummy", None)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(UnknownProviderError, match="choose one of: .*local"):
        providers.get("nimbus")


def test_a_lazy_target_is_imported_only_when_asked_for() -> None:
    code = ("import sys, cloudml.providers as p; p.available();"
            "print('cloudml.providers.local' in sys.modules); p.get_class('local');"
            "print('cloudml.providers.local' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"], "listing providers imports none of them; asking for one imports it"


def test_a_non_provider_target_is_refused() -> None:
    providers.register_provider("notone", "json:JSONDecoder")
    try:
        with pytest.raises(ValidationError, match="not name a cloudml Provider"):
            providers.get("notone")
    finally:
        providers._registry.pop("notone", None)


def test_missing_dependency_names_the_extra() -> None:
    err = MissingDependencyError("vertex", "google-cloud-aiplatform")
    assert "pip install 'cloudml[vertex]'" in str(err) and isinstance(err, ImportError)


def test_capabilities_are_data_and_refusals_list_every_reason(tmp_path) -> None:
    from cloudml.spec import Resources, SourceCode, TrainingSpec

    spec = TrainingSpec(source=SourceCode("train.py", "."), resources=Resources(accelerator="A100:1", spot=True))
    with pytest.raises(ValidationError) as caught:
        LocalProvider(root=str(tmp_path)).check_features(spec)
    text = str(caught.value)
    assert "spot" in text and "no spot market" in text and "GPU" in text
    assert Feature.SPOT in LocalProvider.unsupported and issubclass(LocalProvider, Provider)


def test_entry_point_providers_are_discovered(tmp_path) -> None:
    """A package that declares ``[cloudml.providers]`` in its entry points becomes a provider by name."""
    (tmp_path / "nimbus_provider.py").write_text(
        "from cloudml.providers.local import LocalProvider\n\nclass Nimbus(LocalProvider):\n    name = 'nimbus'\n")
    dist = tmp_path / "nimbus_provider-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nimbus-provider\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[cloudml.providers]\nnimbus = nimbus_provider:Nimbus\n")
    code = ("import cloudml.providers as p; print('nimbus' in p.available(), type(p.get('nimbus', root='/tmp/n')).__name__)")
    import os

    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), repo])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["True", "Nimbus"]
