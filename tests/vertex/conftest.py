from tests.rigs.vertex_fixtures import (
    _vertex_servers,
    fake_vertex,
    gcs_emulator,
    vertex_options,
    vertex_provider,
    vertex_rig,
)

__all__ = ["_vertex_servers", "fake_vertex", "gcs_emulator", "vertex_options", "vertex_provider", "vertex_rig"]
