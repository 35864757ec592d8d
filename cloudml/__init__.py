"""cloudml: one Estimator/Endpoint API over SageMaker, Vertex AI, Azure ML and the local machine.

Importing cloudml imports no cloud SDK, no torch and no TensorFlow; providers import theirs when first used.
The public names below are resolved on first access (PEP 562), so ``import cloudml`` and the ``cloudml cost``
commands stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cloudml.errors import CloudMLError, JobFailedError, MissingDependencyError, ValidationError

if TYPE_CHECKING:
    from cloudml.endpoints import Endpoint
    from cloudml.estimators import Estimator, PyTorch, TensorFlow
    from cloudml.jobs import Job
    from cloudml.spec import Resources

__version__ = "0.1.0"

_LAZY = {
    "Endpoint": "cloudml.endpoints",
    "Estimator": "cloudml.estimators",
    "Job": "cloudml.jobs",
    "PyTorch": "cloudml.estimators",
    "Resources": "cloudml.spec",
    "TensorFlow": "cloudml.estimators",
}

__all__ = [
    "CloudMLError",
    "Endpoint",
    "Estimator",
    "Job",
    "JobFailedError",
    "MissingDependencyError",
    "PyTorch",
    "Resources",
    "TensorFlow",
    "ValidationError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cloudml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
