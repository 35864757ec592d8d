"""cloudml: one Estimator/Endpoint API over SageMaker, Vertex AI, Azure ML and the local machine.

Importing cloudml imports no cloud SDK, no torch and no TensorFlow; providers import theirs when first used.
"""

from cloudml.endpoints import Endpoint
from cloudml.errors import (
    CloudMLError,
    JobFailedError,
    MissingDependencyError,
    ValidationError,
)
from cloudml.estimators import Estimator, PyTorch, TensorFlow
from cloudml.jobs import Job
from cloudml.spec import Resources

__version__ = "0.1.0"

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
