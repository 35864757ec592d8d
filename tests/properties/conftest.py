"""Property tests run with no network and no subprocess: any socket connect or process spawn fails the test
("never a cloud call"). The guard is module-scoped so hypothesis reuses it across examples."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest


class CloudCall(AssertionError):
    pass


def _refuse(*args: object, **kwargs: object) -> None:
    raise CloudCall(f"a property test reached the network or a subprocess: {args[:2]!r}")


@pytest.fixture(scope="module", autouse=True)
def no_network_no_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse)
        mp.setattr(socket.socket, "connect_ex", _refuse)
        mp.setattr(socket, "create_connection", _refuse)
        mp.setattr(subprocess.Popen, "__init__", _refuse)
        mp.setenv("CLOUDML_CONFIG_DIR", str(tmp_path_factory.mktemp("props-config")))
        yield
