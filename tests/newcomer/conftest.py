"""Fixtures for the newcomer tests (issue 17): the CLI tests' isolated settings folder and in-process runner."""

from tests.cli.conftest import _own_settings, cli, endpoints_to_delete  # noqa: F401
