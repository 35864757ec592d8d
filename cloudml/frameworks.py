"""Frameworks and the versions cloudml knows, as data.

Invariant: a (framework, version) pair outside this table is refused by spec validation before anything runs.
Providers narrow it further with their own image tables (a version known here may have no image on a service).
"""

from __future__ import annotations

from cloudml.errors import ValidationError

FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "pytorch": ("1.13", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10",
                "2.11", "2.12", "2.13"),
    "tensorflow": ("2.12", "2.13", "2.14", "2.15", "2.16", "2.17", "2.18", "2.19", "2.20", "2.21"),
}

# What a spec gets when it names no version: recent releases every managed service has images for.
DEFAULT_VERSIONS = {"pytorch": "2.5", "tensorflow": "2.16"}

_ALIASES = {"torch": "pytorch", "pt": "pytorch", "tf": "tensorflow", "keras": "tensorflow"}

# Distribution strategies each framework can run; "none" means one process per node, no process group.
DISTRIBUTIONS = {
    "pytorch": ("none", "ddp"),
    "tensorflow": ("none", "multi_worker_mirrored", "parameter_server"),
}


def canonical_framework(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FRAMEWORKS:
        raise ValidationError("framework", f"unknown framework {name!r}", "choose one of: " + ", ".join(FRAMEWORKS))
    return key


def canonical_version(framework: str, version: str | None) -> str:
    """``"2.5.1"`` -> ``"2.5"``; ``None`` -> the default for the framework."""
    if version is None:
        return DEFAULT_VERSIONS[framework]
    parts = str(version).strip().split(".")
    short = ".".join(parts[:2])
    if short not in FRAMEWORKS[framework]:
        raise ValidationError(
            "framework_version",
            f"unknown {framework} version {version!r}",
            "supported: " + ", ".join(FRAMEWORKS[framework]),
        )
    return short
