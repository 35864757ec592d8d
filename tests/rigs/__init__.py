"""Offline test rigs: one per provider (servers/fakes started and stopped by fixtures), plus the contract
runner that executes an uploaded bundle the way the provider's container would."""
