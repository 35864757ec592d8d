"""What the CLI shows while work happens: transfer bars, live logs under a status line, the end summary.

Invariants:
- on a terminal (and not ``--quiet``/``--json``): rich progress bars for transfers (bytes, rate, time left) and,
  while a job runs, its log lines scrolling above one status line (state, elapsed, estimated cost so far);
- piped output gets the plain log lines only, ``--quiet`` nothing, ``--json`` nothing but the final document;
- waiting is ``Job.wait`` itself (backoff, failure -> ``JobFailedError``, Ctrl-C leaves the job running);
- the cost so far is the catalog price (``cloudml.cost.price_of``) x billable (else elapsed) seconds x instances.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from cloudml.commands._common import Output, duration, echo, echo_json, usd
from cloudml.jobs import Job
from cloudml.providers.base import JobInfo


class RichTransfers:
    """A ``cloudml.progress.Reporter`` drawing one rich bar per transfer."""

    def __init__(self, console: Any):
        self.console = console
        self._progress: Any = None
        self._open = 0

    def start(self, description: str, total: int | None) -> Any:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        if self._progress is None:
            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), TimeRemainingColumn(), console=self.console)
            self._progress.start()
        self._open += 1
        return self._progress.add_task(f"uploading {description}", total=total)

    def update(self, handle: Any, completed: int, total: int | None) -> None:
        self._progress.update(handle, completed=completed, total=total)

    def finish(self, handle: Any) -> None:
        self._open -= 1
        if self._open == 0:
            self._progress.stop()
            self._progress = None


@contextlib.contextmanager
def transfers(out: Output) -> Iterator[None]:
    """Show transfer bars for the duration of the block when the output is live."""
    from cloudml import progress

    if not out.live:
        with progress.use(None):
            yield
        return
    from cloudml.commands._common import console

    with progress.use(RichTransfers(console())):
        yield


class _Price:
    """The catalog's hourly price for a job's instance, looked up once."""

    def __init__(self, provider: str):
        self.provider = provider
        self._key: Any = None
        self._value: float | None = None

    def hourly(self, info: JobInfo) -> float | None:
        key = (info.instance_type, info.region, info.spot)
        if key != self._key:
            self._key = key
            self._value = None
            if info.instance_type:
                try:
                    from cloudml.cost import price_of

                    offer = price_of(self.provider, info.instance_type, info.region, info.spot)
                    self._value = offer.price_usd_hour if offer else None
                except Exception:  # a price is a nicety: never fail a watch on it
                    self._value = None
        return self._value


def cost_so_far(info: JobInfo, hourly: float | None, now: float | None = None) -> float | None:
    if hourly is None:
        return 0.0 if info.provider == "local" else None
    seconds = info.billable_seconds
    if seconds is None and info.started_at:
        seconds = (info.ended_at or now or time.time()) - info.started_at
    return None if seconds is None else hourly * seconds / 3600 * info.instance_count


class _Status:
    """The status line: a rich renderable recomputed at every refresh (so elapsed time ticks between polls)."""

    def __init__(self, name: str, price: _Price):
        from rich.spinner import Spinner

        self.name = name
        self.price = price
        self.info: JobInfo | None = None
        self.since = time.time()
        self.spinner = Spinner("dots", style="cyan")

    def text(self) -> str:
        info = self.info
        state = info.state.value if info else "Submitted"
        start = (info.started_at or info.created_at) if info else None
        elapsed = time.time() - (start or self.since)
        cost = cost_so_far(info, self.price.hourly(info)) if info else None
        return f"{self.name}  {state}  {duration(elapsed)}" + (f"  ~{usd(cost)} so far" if cost is not None else "")

    def __rich__(self) -> Any:
        self.spinner.update(text=self.text())
        return self.spinner


class _WatchedJob(Job):
    """A Job that tells the status line what each poll saw."""

    status: _Status | None = None

    def describe(self) -> JobInfo:
        info = super().describe()
        if self.status is not None:
            self.status.info = info
        return info


def watch(provider: Any, name: str, out: Output, logs: bool = True) -> JobInfo:
    """Wait for job ``name``: stream its logs (plain, or above a live status line on a terminal) and return its
    final info. Raises ``JobFailedError``/``JobStoppedError`` as ``Job.wait`` does."""
    job = _WatchedJob(provider, name)
    if not out.live:
        if out.chatty and logs:
            return job.wait(logs=True, log_sink=lambda line: echo(line))
        return job.wait(logs=False)
    from rich.live import Live

    from cloudml.commands._common import console

    con = console()
    job.status = _Status(name, _Price(provider.name))
    with Live(job.status, console=con, refresh_per_second=4, transient=True):
        return job.wait(logs=logs, log_sink=lambda line: con.print(line, markup=False, highlight=False))


def summary(provider: Any, info: JobInfo) -> dict[str, Any]:
    hourly = _Price(provider.name).hourly(info)
    # the JobInfo names, as in `jobs list|describe --format json`; "job" and "billable_s" are kept as aliases
    billable = info.billable_seconds
    return {
        "name": info.name, "job": info.name, "provider": info.provider, "state": info.state.value,
        "duration_s": (info.ended_at - info.created_at) if info.ended_at and info.created_at else None,
        "billable_seconds": billable, "billable_s": billable, "instance_type": info.instance_type,
        "instance_count": info.instance_count, "price_usd_hour": hourly,
        "cost_usd": cost_so_far(info, hourly), "model_uri": info.model_uri,
        "reason": info.reason, "exit_code": info.exit_code, "warning": info.extra.get("warning"),
    }


def follow(provider: Any, name: str, out: Output, logs: bool = True) -> dict[str, Any]:
    """``watch`` then the summary. Under ``--json`` a failed or stopped job still prints its summary document
    (with ``reason`` and ``exit_code``) before the error propagates (exit code 1)."""
    from cloudml.errors import JobFailedError

    try:
        info = watch(provider, name, out, logs)
    except JobFailedError:
        if out.json:
            echo_json(summary(provider, provider.describe_job(name)))
        raise
    return summary(provider, info)


def report(out: Output, result: dict[str, Any]) -> None:
    """The end of a followed job: JSON, the artifact URI alone (quiet), or the human summary."""
    if out.json:
        echo_json(result)
    elif out.quiet:
        echo(result["model_uri"] or result["job"])
    else:
        print_summary(result)


def print_summary(s: dict[str, Any]) -> None:
    price = f" at {usd(s['price_usd_hour'])}/h x {s['instance_count']}" if s["price_usd_hour"] else ""
    echo(f"\n{s['job']} {s['state']} on {s['provider']}: {duration(s['duration_s'])} "
               f"(billable {duration(s['billable_s'])}), cost {usd(s['cost_usd'])}{price}")
    if s["model_uri"]:
        echo(f"model: {s['model_uri']}")
    if s.get("warning"):
        echo(f"WARNING: {s['warning']}")
