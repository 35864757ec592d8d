"""The SDK seam of the Vertex provider: GAPIC v1 REST clients, Cloud Storage, Cloud Logging, retries and errors.

Invariants:
- the only module that imports ``google.cloud.aiplatform_v1`` / ``google.cloud.storage`` / ``google.auth``
  (besides the presence check in ``vertex``); clients are created lazily, once per provider instance;
- every call goes through ``_call``: the SDK's own ``Retry`` (transient errors only) bounded by ``timeout``
  seconds overall, then one translation of SDK exceptions into cloudml errors: ``NotFound`` -> ``NotFoundError``,
  401/403 -> ``CredentialsError``, quota/capacity ``RESOURCE_EXHAUSTED`` -> ``CapacityError`` (never retried),
  retries exhausted -> ``ConfigurationError`` naming the endpoint and the timeout;
- request bodies arrive as REST (camelCase) dicts from ``_vertex_requests`` and are parsed strictly into protos.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from cloudml.errors import (
    CapacityError,
    CloudMLError,
    ConfigurationError,
    CredentialsError,
    EndpointError,
    MissingDependencyError,
    NotFoundError,
)
from cloudml.providers._vertex_storage import Storage
from cloudml.runtime.secrets import mask_text

try:
    import google.auth
    import requests
    from google.api_core import exceptions as gexc
    from google.api_core import retry as gretry
    from google.auth import exceptions as auth_exc
    from google.cloud import aiplatform_v1 as v1
    from google.protobuf import json_format
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("vertex", exc.name or "google-cloud-aiplatform") from None

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_RATE_WORDS = ("per minute", "requests", "rate limit")


def is_capacity(exc: BaseException) -> bool:
    """A quota or capacity refusal (as opposed to a request-rate limit, which is retried)."""
    if not isinstance(exc, gexc.TooManyRequests):
        return False
    text = str(getattr(exc, "message", "") or exc).lower()
    return not any(word in text for word in _RATE_WORDS)


def is_transient(exc: BaseException) -> bool:
    if is_capacity(exc):
        return False
    return isinstance(exc, (gexc.InternalServerError, gexc.TooManyRequests, gexc.ServiceUnavailable,
                            gexc.BadGateway, gexc.GatewayTimeout, requests.exceptions.ConnectionError,
                            requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError,
                            auth_exc.TransportError))


def _strip_scheme(endpoint: str) -> str:
    return endpoint if endpoint.startswith(("http://", "https://")) else "https://" + endpoint


class Clients:
    """Lazily built SDK clients for one (project, location) and the retried, translated calls over them."""

    def __init__(self, options: Mapping[str, Any], project: str, location: str, timeout: float):
        self.project = project
        self.location = location
        self.parent = f"projects/{project}/locations/{location}"
        self.timeout = timeout
        self.attempt_timeout = max(1.0, timeout / 3)   # one HTTP attempt; retries share ``timeout``
        self.api_endpoint = _strip_scheme(options.get("api_endpoint") or f"{location}-aiplatform.googleapis.com")
        self.logging_endpoint = _strip_scheme(options.get("logging_endpoint") or "logging.googleapis.com")
        self.storage_endpoint = options.get("storage_endpoint")
        self._credentials_option = options.get("credentials")
        self._credentials: Any = None
        self._gapic: dict[str, Any] = {}
        self._lock = threading.RLock()  # clients are made once, whichever thread asks first
        self._storage: Storage | None = None
        self._session: Any = None
        self.retry = gretry.Retry(predicate=is_transient, initial=0.25, maximum=min(8.0, max(timeout / 4, 0.5)),
                                  multiplier=2.0, timeout=timeout)

    # -- construction -------------------------------------------------------------------------------------------
    @property
    def credentials(self) -> Any:
        if self._credentials is None:
            opt = self._credentials_option
            if opt == "anonymous":
                from google.auth.credentials import AnonymousCredentials

                self._credentials = AnonymousCredentials()
            elif opt is not None:
                self._credentials = opt
            else:
                try:
                    self._credentials, _ = google.auth.default(scopes=SCOPES)
                except auth_exc.DefaultCredentialsError as exc:
                    raise CredentialsError(
                        "no Google credentials found: run `gcloud auth application-default login` or set "
                        f"GOOGLE_APPLICATION_CREDENTIALS ({exc.__class__.__name__})") from None
        return self._credentials

    def _client(self, kind: str) -> Any:
        if kind in self._gapic:
            return self._gapic[kind]
        with self._lock:
            return self._new_client(kind)

    def _new_client(self, kind: str) -> Any:
        if kind not in self._gapic:
            cls = {"job": v1.JobServiceClient, "model": v1.ModelServiceClient,
                   "endpoint": v1.EndpointServiceClient, "prediction": v1.PredictionServiceClient}[kind]
            self._gapic[kind] = cls(transport="rest", credentials=self.credentials,
                                    client_options={"api_endpoint": self.api_endpoint})
        return self._gapic[kind]

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            from google.cloud import storage  # type: ignore[attr-defined]

            kwargs: dict[str, Any] = {"project": self.project, "credentials": self.credentials}
            if self.storage_endpoint:
                kwargs["client_options"] = {"api_endpoint": _strip_scheme(self.storage_endpoint)}
            self._storage = Storage(storage.Client(**kwargs), self.timeout)
        return self._storage

    # -- the one call path --------------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], Any], instance_type: str | None = None,
              retry: Any = None) -> Any:
        try:
            return (retry or self.retry)(fn)()
        except gexc.RetryError as exc:
            cause = exc.cause
            if isinstance(cause, gexc.GoogleAPICallError):
                raise CloudMLError(f"Vertex AI kept failing {what} for {self.timeout:.0f}s: {cause.message}") from None
            raise ConfigurationError(
                f"could not reach the Vertex AI API at {self.api_endpoint} for {what} within {self.timeout:.0f}s "
                f"({type(cause).__name__}); check provider option api_endpoint/location and the network, or raise "
                "timeout") from None
        except gexc.NotFound as exc:
            raise NotFoundError(f"Vertex AI: {what}: {exc.message}") from None
        except (gexc.Unauthorized, gexc.Forbidden) as exc:
            raise CredentialsError(f"Vertex AI refused {what}: {exc.message}") from None
        except auth_exc.GoogleAuthError as exc:
            raise CredentialsError(f"Google credentials failed for {what} ({type(exc).__name__}: "
                                   f"{mask_text(str(exc))}); run `gcloud auth application-default login` or check "
                                   "GOOGLE_APPLICATION_CREDENTIALS") from None
        except gexc.TooManyRequests as exc:
            if is_capacity(exc):
                raise CapacityError("vertex", instance_type or "the requested machine", exc.message) from None
            raise CloudMLError(f"Vertex AI throttled {what}: {exc.message}") from None
        except gexc.GoogleAPICallError as exc:
            raise CloudMLError(f"Vertex AI refused {what}: {exc.message}") from None

    @staticmethod
    def _parse(cls: Any, body: Mapping[str, Any]) -> Any:
        return cls.from_json(json.dumps(body))

    # -- jobs ---------------------------------------------------------------------------------------------------
    def create_custom_job(self, body: Mapping[str, Any], *, find: Callable[[], Any], instance_type: str) -> Any:
        """Create once: each (retried) attempt first looks for the job by display name."""
        job = self._parse(v1.CustomJob, body)

        def attempt() -> Any:
            existing = find()
            if existing is not None:
                return existing
            return self._client("job").create_custom_job(parent=self.parent, custom_job=job, timeout=self.attempt_timeout)

        return self._call(f"creating custom job {body.get('displayName')}", attempt, instance_type)

    def get_custom_job(self, name: str) -> Any:
        return self._call(f"getting {name}", lambda: self._client("job").get_custom_job(name=name,
                                                                                         timeout=self.attempt_timeout))

    def list_custom_jobs(self, filter: str, limit: int = 1000) -> list[Any]:
        request = {"parent": self.parent, "filter": filter, "page_size": min(limit, 100)}

        def run() -> list[Any]:
            out = []
            for job in self._client("job").list_custom_jobs(request=request, timeout=self.attempt_timeout):
                out.append(job)
                if len(out) >= limit:
                    break
            return out

        return self._call(f"listing custom jobs ({filter})", run)

    def cancel_custom_job(self, name: str) -> None:
        def run() -> None:
            try:
                self._client("job").cancel_custom_job(name=name, timeout=self.attempt_timeout)
            except gexc.FailedPrecondition:  # already finished
                pass

        self._call(f"cancelling {name}", run)

    # -- models and endpoints -----------------------------------------------------------------------------------
    def _wait(self, operation: Any, timeout: float) -> Any:
        return operation.result(timeout=timeout)

    def upload_model(self, body: Mapping[str, Any], model_id: str) -> tuple[str, bool]:
        """(model resource name, created now?)."""
        request = {"parent": self.parent, "model": self._parse(v1.Model, body), "model_id": model_id}

        def run() -> tuple[str, bool]:
            try:
                op = self._client("model").upload_model(request=request, timeout=self.attempt_timeout)
                return self._wait(op, self.timeout).model, True
            except gexc.AlreadyExists:
                return f"{self.parent}/models/{model_id}", False

        return self._call(f"uploading model {model_id}", run)

    def get_model(self, name: str) -> Any:
        return self._call(f"getting {name}", lambda: self._client("model").get_model(name=name, timeout=self.attempt_timeout))

    def create_endpoint(self, body: Mapping[str, Any], endpoint_id: str) -> tuple[str, bool]:
        request = {"parent": self.parent, "endpoint": self._parse(v1.Endpoint, body), "endpoint_id": endpoint_id}

        def run() -> tuple[str, bool]:
            try:
                op = self._client("endpoint").create_endpoint(request=request, timeout=self.attempt_timeout)
                return self._wait(op, self.timeout).name, True
            except gexc.AlreadyExists:
                return f"{self.parent}/endpoints/{endpoint_id}", False

        return self._call(f"creating endpoint {endpoint_id}", run)

    def get_endpoint(self, name: str) -> Any:
        return self._call(f"getting {name}",
                          lambda: self._client("endpoint").get_endpoint(name=name, timeout=self.attempt_timeout))

    def list_endpoints(self, filter: str) -> list[Any]:
        request = {"parent": self.parent, "filter": filter, "page_size": 100}
        return self._call("listing endpoints",
                          lambda: list(self._client("endpoint").list_endpoints(request=request, timeout=self.attempt_timeout)))

    def deploy_model(self, body: Mapping[str, Any], timeout: float) -> Any:
        """Deploy once: each (retried) attempt first checks whether the model is already on the endpoint."""
        request = v1.DeployModelRequest.from_json(json.dumps(body))
        machine = body["deployedModel"]["dedicatedResources"]["machineSpec"]["machineType"]
        endpoint, model = body["endpoint"], body["deployedModel"]["model"]

        def run() -> Any:
            current = self._client("endpoint").get_endpoint(name=endpoint, timeout=self.attempt_timeout)
            for deployed in current.deployed_models:
                if deployed.model == model:
                    return deployed
            op = self._client("endpoint").deploy_model(request=request, timeout=timeout)
            return self._wait(op, timeout)

        return self._call(f"deploying to {endpoint}", run, machine)

    def undeploy_model(self, endpoint: str, deployed_model_id: str) -> None:
        def run() -> None:
            try:
                op = self._client("endpoint").undeploy_model(endpoint=endpoint, deployed_model_id=deployed_model_id,
                                                              timeout=self.attempt_timeout)
                self._wait(op, self.timeout)
            except gexc.NotFound:  # already undeployed
                pass

        self._call(f"undeploying {deployed_model_id} from {endpoint}", run)

    def delete(self, name: str) -> None:
        """Delete a model or endpoint and wait; a missing one is fine."""
        kind = "endpoint" if "/endpoints/" in name else "model"

        def run() -> None:
            client = self._client(kind)
            try:
                op = (client.delete_endpoint if kind == "endpoint" else client.delete_model)(name=name,
                                                                                          timeout=self.attempt_timeout)
                self._wait(op, self.timeout)
            except gexc.NotFound:
                pass

        self._call(f"deleting {name}", run)

    def delete_quietly(self, name: str) -> None:
        """Best-effort rollback: undeploy everything from an endpoint, then delete it; never raises."""
        try:
            if "/endpoints/" in name:
                for deployed in self.get_endpoint(name).deployed_models:
                    self.undeploy_model(name, deployed.id)
            self.delete(name)
        except CloudMLError:
            pass

    def predict(self, body: Mapping[str, Any]) -> list[Any]:
        """One ``:predict``. Errors the model server answered (4xx/5xx) are not retried: ``EndpointError`` with
        the HTTP status; unavailability and rate limits are."""
        request = v1.PredictRequest.from_json(json.dumps(body))
        endpoint = body["endpoint"]

        def run() -> Any:
            try:
                return self._client("prediction").predict(request=request, timeout=self.attempt_timeout)
            except (gexc.ServiceUnavailable, gexc.TooManyRequests, gexc.Unauthorized, gexc.Forbidden):
                raise
            except gexc.GoogleAPICallError as exc:
                raise EndpointError(f"Vertex AI endpoint {endpoint}: {exc.message}", exc.code) from None

        retry = self.retry.with_predicate(
            lambda exc: is_transient(exc) and not isinstance(exc, gexc.InternalServerError))
        try:
            response = self._call(f"predicting on {endpoint}", run, retry=retry)
        except (CredentialsError, ConfigurationError, EndpointError):
            raise
        except CloudMLError as exc:
            raise EndpointError(str(exc)) from None
        return json_format.MessageToDict(v1.PredictResponse.pb(response)).get("predictions", [])

    # -- logs ---------------------------------------------------------------------------------------------------
    def log_entries(self, job_id: str, seen: dict[str, float] | None = None,
                    tagged: bool = False) -> tuple[list[str], dict[str, float]]:
        """Cloud Logging lines of one custom job not returned before. ``seen`` maps the insert ids already
        returned to their times; the query looks ``LOG_LOOKBACK`` seconds behind the newest of them, so entries
        that Cloud Logging ingests late are still found, and ids seen are skipped. ``tagged`` prefixes each line
        with its replica (``[workerpool1-0]``). Returns (lines, the new ``seen``)."""
        if self._session is None:
            from google.auth.transport.requests import AuthorizedSession

            self._session = AuthorizedSession(self.credentials)
        seen = dict(seen or {})
        filt = f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"'
        if seen:
            filt += f' AND timestamp>="{rfc3339(max(seen.values()) - LOG_LOOKBACK)}"'
        body: dict[str, Any] = {"resourceNames": [f"projects/{self.project}"], "filter": filt,
                                "orderBy": "timestamp asc", "pageSize": 1000}
        lines: list[str] = []

        def fetch() -> dict[str, Any]:
            resp = self._session.post(f"{self.logging_endpoint}/v2/entries:list", json=body,
                                      timeout=self.attempt_timeout)
            if resp.status_code >= 400:
                raise gexc.from_http_response(resp)
            return resp.json()

        for _ in range(10):
            page = self._call("reading Cloud Logging", fetch)
            for entry in page.get("entries", []):
                iid = entry.get("insertId") or json.dumps(entry, sort_keys=True)
                if iid in seen:
                    continue
                seen[iid] = epoch(entry.get("timestamp"))
                text = entry.get("textPayload") or (entry.get("jsonPayload") or {}).get("message", "")
                task = (entry.get("labels") or {}).get("ml.googleapis.com/task_name") or (
                    entry.get("resource", {}).get("labels", {}).get("task_name", ""))
                lines.append(f"[{task}] {text}" if task and (tagged or not task.startswith("workerpool"))
                             else str(text))
            if not page.get("nextPageToken"):
                break
            body["pageToken"] = page["nextPageToken"]
        if seen:
            horizon = max(seen.values()) - 2 * LOG_LOOKBACK
            seen = {k: t for k, t in seen.items() if t >= horizon}
        return lines, seen


LOG_LOOKBACK = 30.0


def epoch(timestamp: str | None) -> float:
    """RFC 3339 (Cloud Logging writes nanoseconds) -> epoch seconds; 0 when absent or unreadable."""
    if not timestamp:
        return 0.0
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", timestamp)
    if not m:
        return 0.0
    base = datetime.fromisoformat(m.group(1) + (m.group(3) if m.group(3) != "Z" else "+00:00"))
    return base.timestamp() + float("0" + (m.group(2) or ".0"))


def rfc3339(seconds: float) -> str:
    t = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"
