"""``Job``: a handle on one training job on any provider.

Invariants: a handle holds a provider and a job name, nothing else that can go stale; every property reads
the provider's current view. ``wait()`` polls with backoff, streams log lines (secrets masked), and on Ctrl-C
leaves the job running and says how to re-attach. Failure raises ``JobFailedError`` with the provider's reason,
the exit code and the last log lines.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cloudml.errors import JobFailedError, JobStoppedError, WaitTimeoutError
from cloudml.providers.base import JobInfo, JobState, Provider
from cloudml.runtime.secrets import Masker

LOG_TAIL = 20


def _print_line(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


class Job:
    """A training job. Returned by ``Estimator.fit``; rebuilt by ``Estimator.attach`` or ``Job(provider, name)``."""

    def __init__(self, provider: Provider, name: str, secrets: Mapping[str, Any] | None = None):
        """``secrets``: hyperparameters/environment the caller knows (``fit`` passes the spec's); values under
        secret-looking keys are masked in log lines, besides those the provider reports."""
        self.provider = provider
        self.name = provider.check_name("job", name, "job_name") if isinstance(provider, Provider) else name
        self._known: dict[str, Any] = dict(secrets or {})
        self._cursor: Any = None
        self._tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
        self._hps: dict[str, Any] = {}  # values masked in log lines when their keys look secret
        self.attempts: list[Any] = []   # cloudml.failover.Attempt rows when fit() made this job

    def __repr__(self) -> str:
        return f"Job({self.provider.name!r}, {self.name!r})"

    # -- reading ------------------------------------------------------------------------------------------
    def describe(self) -> JobInfo:
        return self.provider.describe_job(self.name)

    @property
    def state(self) -> JobState:
        return self.describe().state

    @property
    def model_uri(self) -> str | None:
        return self.describe().model_uri

    def cost_usd(self, info: JobInfo | None = None) -> float | None:
        """Billable seconds x the catalog's hourly price x instances, when both are known."""
        info = info or self.describe()
        if info.billable_seconds is None or not info.instance_type:
            return None
        try:
            from cloudml.cost import price_of
        except ImportError:  # pragma: no cover - cost module absent
            return None
        offer = price_of(self.provider.name, info.instance_type, info.region, info.spot)
        if offer is None:
            return None
        return round(offer.price_usd_hour * info.billable_seconds / 3600 * info.instance_count, 4)

    def new_log_lines(self) -> list[str]:
        """Log lines the provider has that this handle has not returned yet."""
        lines, self._cursor = self.provider.read_logs(self.name, self._cursor)
        if lines:
            known = {**self._known, **self._hps}
            key = (len(known), hash(frozenset((k, str(v)) for k, v in known.items())))
            if getattr(self, "_masker_key", None) != key:  # built once per set of secrets, not per line
                self._masker, self._masker_key = Masker(known, inherit=True), key
            lines = [self._masker(line) for line in lines]
        self._tail.extend(lines)
        return lines

    def logs(self, follow: bool = False, poll: float = 1.0) -> Iterator[str]:
        """Yield the job's log lines; with ``follow`` keep yielding until the job ends."""
        while True:
            yield from self.new_log_lines()
            if not follow or self.describe().state.terminal:
                yield from self.new_log_lines()
                return
            time.sleep(poll)

    def download_outputs(self, dest: str | os.PathLike[str]) -> str:
        """Fetch the job's outputs into folder ``dest``: ``outputs/`` and ``logs/`` (the script's ./outputs and
        ./logs, as Azure ML keeps them) and whatever it wrote to its output data dir (``SM_OUTPUT_DATA_DIR``).
        Returns ``dest``. Blocks; changes nothing."""
        return self.provider.download_outputs(self.name, os.fspath(dest))

    # -- acting -------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the provider to stop the job; returns at once (``wait()`` to see it stopped)."""
        self.provider.stop_job(self.name)

    def wait(
        self,
        timeout: float | None = None,
        logs: bool = True,
        log_sink: Callable[[str], None] | None = None,
    ) -> JobInfo:
        """Block until the job ends. Returns the final ``JobInfo`` when it completed.

        Raises ``JobFailedError`` (``JobStoppedError`` if stopped), or ``WaitTimeoutError`` after ``timeout``
        seconds (the job keeps running). Ctrl-C stops waiting, not the job.
        """
        sink = log_sink or _print_line
        first, most = getattr(self.provider, "poll_interval", (1.0, 30.0))
        delay = first
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                info = self.describe()
                self._hps = {**dict(info.extra.get("environment") or {}), **dict(info.hyperparameters)}
                lines = self.new_log_lines()
                if logs:
                    for line in lines:
                        sink(line)
                if info.state.terminal:
                    return self._finish(info, sink if logs else None)
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeoutError(f"job {self.name} still {info.state.value} after {timeout}s; it keeps running")
                time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
                delay = min(most, delay * 1.5)
        except KeyboardInterrupt:
            print(f"\nStopped waiting; job {self.name} keeps running on {self.provider.name}. Re-attach with:\n"
                  f"  Estimator.attach({self.name!r}, provider={self.provider.name!r})\n"
                  f"  cloudml jobs wait {self.name} --provider {self.provider.name}", file=sys.stderr, flush=True)
            raise

    def _finish(self, info: JobInfo, sink: Callable[[str], None] | None) -> JobInfo:
        for line in self.new_log_lines():  # lines written between the last read and the end
            if sink:
                sink(line)
        if info.state == JobState.COMPLETED:
            if info.extra.get("warning"):   # e.g. an empty model artifact: said loudly, not hidden in the logs
                print(f"WARNING: job {self.name}: {info.extra['warning']}", file=sys.stderr, flush=True)
            return info
        if not self._tail:  # logs were not followed: fetch the end of them for the error
            self.new_log_lines()
        error = JobStoppedError if info.state == JobState.STOPPED else JobFailedError
        raise error(self.name, info.reason or info.state.value, exit_code=info.exit_code, log_tail=list(self._tail))
