"""Provider registry: names -> lazy ``"module:Class"`` targets, plus the ``cloudml.providers`` entry points.

Invariants: importing this module imports no provider module and no cloud SDK; a provider's module is
imported by ``get_class`` only. Unknown names raise ``UnknownProviderError`` listing the valid ones; a
provider whose SDK is missing raises ``MissingDependencyError`` naming the extra to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cloudml.errors import UnknownProviderError, ValidationError
from cloudml.providers.base import Provider

_registry: dict[str, str] = {
    "azureml": "cloudml.providers.azureml:AzureMLProvider",
    "local": "cloudml.providers.local:LocalProvider",
    "sagemaker": "cloudml.providers.sagemaker:SageMakerProvider",
    "vertex": "cloudml.providers.vertex:VertexProvider",
}
_classes: dict[str, type[Provider]] = {}

#: A read-only view of the built-in and registered providers (name -> "module:Class" or class).
registry: Mapping[str, str] = MappingProxyType(_registry)

ENTRY_POINT_GROUP = "cloudml.providers"


def register_provider(name: str, target: str | type[Provider], clobber: bool = False) -> None:
    """Register a provider under ``name``: a ``"module:Class"`` string (imported lazily) or a class."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValidationError("name", f"{name!r} is not a valid provider name")
    if name in _registry and not clobber and _registry[name] != target:
        raise ValidationError("name", f"provider {name!r} is already registered", "pass clobber=True to replace it")
    if isinstance(target, str):
        _registry[name] = target
        _classes.pop(name, None)
    else:
        _registry[name] = f"{target.__module__}:{target.__qualname__}"
        _classes[name] = target


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points  # ~25 ms: only when a name is not built in

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Every provider name that ``get`` accepts, sorted."""
    return sorted(set(_registry) | set(_entry_points()))


def is_known(name: object) -> bool:
    """Whether ``get`` accepts ``name``; entry points are read only for a name that is not built in."""
    return isinstance(name, str) and (name in _registry or name in _classes or name in _entry_points())


def get_class(name: str) -> type[Provider]:
    if name in _classes:
        return _classes[name]
    if name in _registry:
        module_name, _, attr = _registry[name].partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
    else:
        eps = _entry_points()
        if name not in eps:
            raise UnknownProviderError(name, available())
        cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ValidationError("provider", f"{name!r} does not name a cloudml Provider subclass")
    _classes[name] = cls
    return cls


def get(name: str, **options: Any) -> Provider:
    """An instance of provider ``name`` configured with ``options`` (no network call is made)."""
    if not isinstance(name, str):
        raise UnknownProviderError(repr(name), available())
    cls = get_class(name)
    bad = [k for k in options if not isinstance(k, str)]
    if bad:
        raise ValidationError("provider_options", f"option names must be strings, got {bad[0]!r}")
    try:
        return cls(**options)
    except (TypeError, AttributeError) as exc:  # an option of the wrong type, found by the constructor
        raise ValidationError("provider_options", f"{name}: an option has the wrong type ({exc})",
                              f"see docs/{name}.md for each option's type") from None


__all__ = ["Provider", "available", "get", "get_class", "is_known", "register_provider", "registry"]
