from tests.rigs.vertex_fixtures import fake_vertex, gcs_emulator, vertex_options, vertex_provider, vertex_rig

__all__ = ["fake_vertex", "gcs_emulator", "vertex_options", "vertex_provider", "vertex_rig"]
