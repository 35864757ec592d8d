"""Estimators: ``Estimator`` (any framework) and the ``PyTorch`` / ``TensorFlow`` conveniences."""

from cloudml.estimators.estimator import Estimator, PyTorch, TensorFlow

__all__ = ["Estimator", "PyTorch", "TensorFlow"]
