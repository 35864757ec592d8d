"""The conformance suite against the local provider (real processes, real HTTP)."""

from pathlib import Path

import pytest

from tests.conformance.isolation import RigIsolation
from tests.conformance.suite import ProviderConformance, Rig


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(provider="local", options={"root": str(tmp_path / "local")})


class TestLocal(ProviderConformance, RigIsolation):
    pass
