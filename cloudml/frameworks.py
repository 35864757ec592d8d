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

# What a spec gets when it names no version: the newest release every managed service has images for
# (Vertex AI's prebuilt PyTorch training images stop at 2.4; TensorFlow 2.16 is on all three).
DEFAULT_VERSIONS = {"pytorch": "2.4", "tensorflow": "2.16"}

_ALIASES = {"torch": "pytorch", "pt": "pytorch", "tf": "tensorflow", "keras": "tensorflow"}

# Distribution strategies each framework can run; "none" means one process per node, no process group.
DISTRIBUTIONS = {
    "pytorch": ("none", "ddp"),
    "tensorflow": ("none", "multi_worker_mirrored", "parameter_server"),
}

# Frameworks whose launcher starts several processes per node (torchrun). A TensorFlow worker is one process
# per node whose strategy drives every device of the node, so more processes per node mean more instances.
MULTI_PROCESS_PER_NODE = {"pytorch": True, "tensorflow": False}


def canonical_distribution(framework: str, distribution: str | None) -> str | None:
    """Check ``distribution`` for ``framework`` and return its canonical spelling (``"DDP"`` -> ``"ddp"``,
    ``"multi-worker-mirrored"`` -> ``"multi_worker_mirrored"``). Refuses a strategy of another framework by
    naming both what this framework supports and which framework the strategy belongs to."""
    if distribution is None:
        return None
    if not isinstance(distribution, str):
        raise ValidationError("distribution", f"must be a string, got {distribution!r}",
                              "supported for " + framework + ": " + ", ".join(DISTRIBUTIONS[framework]))
    key = distribution.strip().lower().replace("-", "_")
    allowed = DISTRIBUTIONS[framework]
    if key in allowed:
        return key
    owners = [fw for fw, names in DISTRIBUTIONS.items() if key in names and fw != framework]
    why = f" (it is a {' / '.join(owners)} strategy)" if owners else ""
    raise ValidationError("distribution", f"{distribution!r} is not available for {framework}{why}",
                          f"supported for {framework}: " + ", ".join(allowed))


def check_process_layout(framework: str, distribution: str | None, processes_per_node: int | None) -> None:
    """Refuse a process layout the launcher would not run as asked (so it fails here, not silently later)."""
    if processes_per_node is None or processes_per_node <= 1:
        return
    if not MULTI_PROCESS_PER_NODE[framework]:
        raise ValidationError(
            "processes_per_node", f"{framework} runs one worker process per node, got {processes_per_node}",
            "leave processes_per_node unset (its strategy uses every GPU of the node) and raise instance_count "
            "for more workers")
    if distribution == "none":
        raise ValidationError(
            "processes_per_node", f"{processes_per_node} processes per node need a distribution, "
            "but distribution='none' runs one process per node",
            "use distribution=" + " or ".join(repr(d) for d in DISTRIBUTIONS[framework] if d != "none")
            + ", or processes_per_node=1")


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
