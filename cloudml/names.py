"""Names of jobs, endpoints and models: checked once, before any path, URL or request is built from them.

Invariants:
- ``check(value, field)`` applies the rules every provider shares: a non-empty string with no path separator,
  no ``.``/``..``, no control or whitespace characters, only letters, digits and ``-`` (``_`` where a provider
  allows it), starting with a letter or digit, at most 63 characters. What it refuses raises
  ``ValidationError`` naming the field and the accepted form;
- each provider narrows these with ``Provider.name_rules`` (``NameRule`` per kind: ``job``, ``endpoint``,
  ``model``), e.g. Azure ML endpoint names are 3-32 characters starting with a letter;
- the local provider builds every folder path through ``check``, so no name can reach outside its root
  (``cloudml endpoints delete ../jobs -p local`` is refused, nothing is deleted).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from cloudml.errors import ValidationError

GENERIC_MAX = 63


@dataclass(frozen=True)
class NameRule:
    """One provider's rule for one kind of name."""

    pattern: re.Pattern[str]
    describe: str       # the accepted form, shown in the error
    max_length: int = GENERIC_MAX


GENERIC = NameRule(re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"),
                   "1-63 letters, digits and hyphens, starting and ending with a letter or digit")
#: ``base_job_name``: a prefix, so it may end with a hyphen; it leaves room for ``-YYYYmmdd-HHMMSS-xxxxxx``.
BASE_JOB_NAME = NameRule(re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$"),
                         "letters, digits and hyphens, starting with a letter or digit, at most 40 characters", 40)


def _problem(value: str) -> str | None:
    """What makes ``value`` unusable as any name (before a provider's own pattern), or None."""
    if value in (".", ".."):
        return "is a relative folder reference"
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if ".." in value:
        return "contains '..'"
    bad = next((c for c in value if unicodedata.category(c)[0] in "CZ"), None)
    if bad is not None:
        return f"contains the control or space character {bad!r}"
    return None


def check(value: object, field: str, rule: NameRule = GENERIC) -> str:
    """``value`` if it is a valid name under ``rule``; else ``ValidationError(field, ...)``."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"must be a non-empty string, got {value!r}", rule.describe)
    shown = value if len(value) <= 80 else value[:77] + "..."
    problem = _problem(value)
    if problem is None and len(value) > rule.max_length:
        problem = f"is {len(value)} characters long (at most {rule.max_length})"
    if problem is None and not rule.pattern.match(value):
        problem = "has characters this provider does not accept"
    if problem is not None:
        raise ValidationError(field, f"{shown!r} is not a valid name: it {problem}", rule.describe)
    return value


__all__ = ["BASE_JOB_NAME", "GENERIC", "NameRule", "check"]
