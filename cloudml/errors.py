"""The CloudMLError tree.

Invariant: every error cloudml raises on purpose is a ``CloudMLError``; each subclass also inherits the
built-in exception a caller would naturally catch (``ValueError`` for bad input, ``ImportError`` for a
missing extra, ``TimeoutError`` for waits ...), so ``except ValueError`` keeps working.
Validation errors name the offending field and say how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence


class CloudMLError(Exception):
    """Root of every error cloudml raises on purpose."""


class ValidationError(CloudMLError, ValueError):
    """Bad input, found before any cloud call or subprocess.

    ``field`` names the offending setting (``"instance_count"``, ``"resources.accelerator"`` ...) and
    ``fix`` says what would be accepted.
    """

    def __init__(self, field: str, problem: str, fix: str | None = None):
        self.field = field
        self.problem = problem
        self.fix = fix
        msg = f"{field}: {problem}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class UnknownProviderError(ValidationError):
    """A provider name that is neither built in nor registered."""

    def __init__(self, name: str, known: Sequence[str]):
        self.name = name
        self.known = tuple(known)
        super().__init__("provider", f"unknown provider {name!r}", "choose one of: " + ", ".join(self.known))


class UnsupportedFeatureError(ValidationError):
    """The chosen provider cannot do what the spec asks; the message lists each feature and why."""


class MissingDependencyError(CloudMLError, ImportError):
    """An optional extra is not installed; the message carries the pip command that installs it."""

    def __init__(self, extra: str, module: str):
        self.extra = extra
        self.module = module
        super().__init__(
            f"{module} is needed for this and is not installed: pip install 'cloudml[{extra}]'"
        )


def how_to_set(provider: str, key: str, example: str) -> str:
    """The three ways to give provider setting ``key``: Python, the settings file, the command line."""
    return (f"provider_options={{'{key}': '{example}'}} in Python, `cloudml config set {provider}.{key} {example}`, "
            f"or -C {key}={example} on the command line")


class ConfigurationError(CloudMLError, ValueError):
    """A provider setting (bucket, role, project, workspace ...) is missing or wrong; says what to set."""


class CredentialsError(CloudMLError, PermissionError):
    """Credentials are missing, expired or refused. Never carries the credential itself."""


class BundleError(CloudMLError, ValueError):
    """The source tree cannot be bundled (entry point outside it, secrets inside it ...)."""


class UnsafeArchiveError(BundleError):
    """An archive member would be written outside the extraction directory (path traversal)."""


class NotFoundError(CloudMLError, LookupError):
    """A job, endpoint or artifact that does not exist on the provider."""


class JobFailedError(CloudMLError, RuntimeError):
    """A training job ended in failure. Carries the provider's reason, exit code and last log lines."""

    def __init__(
        self,
        job_name: str,
        reason: str | None = None,
        *,
        exit_code: int | None = None,
        log_tail: Sequence[str] = (),
    ):
        self.job_name = job_name
        self.reason = reason or "no reason given by the provider"
        self.exit_code = exit_code
        self.log_tail = list(log_tail)
        msg = f"job {job_name} failed: {self.reason}"
        if exit_code is not None:
            msg += f" (exit code {exit_code})"
        if self.log_tail:
            msg += "\nlast log lines:\n" + "\n".join("  " + line for line in self.log_tail)
        super().__init__(msg)


class JobStoppedError(JobFailedError):
    """A job was stopped before it completed (by the user or the provider)."""


class WaitTimeoutError(CloudMLError, TimeoutError):
    """``wait(timeout=...)`` ran out; the job or endpoint keeps running."""


class EndpointError(CloudMLError, RuntimeError):
    """An endpoint refused or failed a request; ``status`` is the HTTP status when there is one."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class CapacityError(CloudMLError, RuntimeError):
    """The provider refused for quota or capacity (ResourceLimitExceeded, RESOURCE_EXHAUSTED, quota ...).

    ``instance_type`` is what was refused; ``next_offer`` describes the next-cheapest feasible offer if known.
    """

    def __init__(self, provider: str, instance_type: str, reason: str, next_offer: str | None = None):
        self.provider = provider
        self.instance_type = instance_type
        self.reason = reason
        self.next_offer = next_offer
        msg = f"{provider} refused {instance_type}: {reason}"
        if next_offer:
            msg += f"; next feasible offer: {next_offer}"
        super().__init__(msg)


class BudgetExceededError(CloudMLError, ValueError):
    """The estimated cost of a job exceeds ``Resources.max_total_usd``; nothing was started."""


class NoFeasibleOfferError(CloudMLError, LookupError):
    """No catalog offer satisfies the request; ``closest`` holds the nearest offers, if any."""

    def __init__(self, message: str, closest: Sequence[object] = ()):
        self.closest = list(closest)
        super().__init__(message)


__all__ = [
    "BudgetExceededError",
    "BundleError",
    "CapacityError",
    "CloudMLError",
    "ConfigurationError",
    "CredentialsError",
    "EndpointError",
    "JobFailedError",
    "JobStoppedError",
    "MissingDependencyError",
    "NoFeasibleOfferError",
    "NotFoundError",
    "UnknownProviderError",
    "UnsafeArchiveError",
    "UnsupportedFeatureError",
    "ValidationError",
    "WaitTimeoutError",
]
