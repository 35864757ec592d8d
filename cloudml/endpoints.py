"""``Endpoint``: a handle on one deployed model on any provider.

Invariants: ``predict`` sends one request and returns the decoded response (JSON by default; numpy arrays may
be sent as ``application/x-npy``); failures raise ``EndpointError`` with the HTTP status. ``delete`` removes
the endpoint and what cloudml created for it and is safe to call twice. Used as a context manager, the
endpoint is deleted on exit. One ``Endpoint`` may be shared by threads: it holds no per-request state, and each
provider's ``invoke`` is thread-safe (the local one keeps one connection per thread). ``token`` (the
``auth_token`` the endpoint was deployed with) is sent as a bearer token on every request.
"""

from __future__ import annotations

import io
import json
from typing import Any

from cloudml.providers.base import EndpointInfo, Provider


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(data: Any, content_type: str) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if content_type == "application/x-npy":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.asarray(data), allow_pickle=False)
        return buf.getvalue()
    return json.dumps(data, default=_default).encode()


def decode(body: bytes, accept: str) -> Any:
    if accept == "application/json":
        return json.loads(body)
    if accept == "application/x-npy":
        import numpy as np

        return np.load(io.BytesIO(body), allow_pickle=False)
    return body


class Endpoint:
    def __init__(self, provider: Provider, name: str, *, token: str | None = None):
        from cloudml import names

        self.provider = provider
        self.name = provider.check_name("endpoint", name, "endpoint_name") if isinstance(provider, Provider) \
            else names.check(name, "endpoint_name")
        if token is not None:
            import inspect

            if "token" not in inspect.signature(provider.invoke).parameters:
                from cloudml.errors import ValidationError

                raise ValidationError("token", f"{provider.name} endpoints are called with the provider's own "
                                      "credentials, not a bearer token", "leave token out")
        self._token = token

    def __repr__(self) -> str:
        return f"Endpoint({self.provider.name!r}, {self.name!r})"

    def describe(self) -> EndpointInfo:
        return self.provider.describe_endpoint(self.name)

    @property
    def url(self) -> str | None:
        return self.describe().url

    def predict(self, data: Any, *, content_type: str = "application/json", accept: str = "application/json") -> Any:
        """One prediction: ``data`` is encoded per ``content_type``, the answer decoded per ``accept``."""
        extra = {"token": self._token} if self._token else {}
        body = self.provider.invoke(self.name, encode(data, content_type), content_type, accept, **extra)
        return decode(body, accept)

    def delete(self) -> None:
        self.provider.delete_endpoint(self.name)

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()
