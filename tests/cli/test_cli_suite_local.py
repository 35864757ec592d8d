"""The CLI suite against the local provider (real processes, real HTTP)."""

from tests.cli.suite import CLIConformance
from tests.conformance.test_local import rig  # noqa: F401  (the rig fixture)


class TestLocalCLI(CLIConformance):
    pass
