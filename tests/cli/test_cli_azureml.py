"""The CLI suite against the Azure ML rig (fake Azure ML control plane + Azurite)."""

from tests.cli.suite import CLIConformance
from tests.conformance.test_azureml import rig  # noqa: F401  (the rig fixture)
from tests.rigs.azureml_fixtures import azurite, fake_aml, provider_options  # noqa: F401


class TestAzureMLCLI(CLIConformance):
    pass
