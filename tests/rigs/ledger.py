"""What every rig found alive when a test (or the session) let go of it, for the session-end check in
``tests/conftest.py``: ``record(rig, leftovers)`` is called by each rig's fixtures at teardown (after the test's
own clean-up); ``leaks()`` lists whatever remained. The rigs also fail the test itself; this ledger is the
whole-suite figure (README "Reliability": resources leaked after the whole suite)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

checks: Counter[str] = Counter()
faults: Counter[tuple[str, str]] = Counter()     # (rig, kind) -> faults the rig served
_leaks: list[str] = []


def record(rig: str, leftovers: Mapping[str, Iterable[str]]) -> None:
    checks[rig] += 1
    for kind, names in leftovers.items():
        _leaks.extend(f"{rig} {kind} {name}" for name in names)


def fault(rig: str, kind: str) -> None:
    """A rig answered one request with an injected fault (throttle, 5xx, reset, delay, quota, spot ...)."""
    faults[(rig, kind)] += 1


def leaks() -> list[str]:
    return list(_leaks)
