"""Recognising and masking secrets.

Standard library only (shipped inside bundles). Invariant: any mapping printed or logged by cloudml goes through ``mask_mapping`` first, and every free text
line through ``mask_text``; values under keys that look secret never appear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "****"
SECRET_KEY = re.compile(r"(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|"
                        r"(^|[_-])key$|sas$|connection[_-]?string)", re.IGNORECASE)

# Content that is a credential whatever file or line it is in.
SECRET_CONTENT = (
    ("private key", re.compile(rb"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")),
    ("AWS access key id", re.compile(rb"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("AWS secret access key", re.compile(
        rb"(aws_?secret_?(access_?)?key|secret_?access_?key)['\"]?\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}", re.IGNORECASE)),
    ("GCP service account key", re.compile(rb'"type"\s*:\s*"service_account"')),
    ("Azure storage key", re.compile(rb"AccountKey=[A-Za-z0-9+/=]{40,}")),
)

# Text each SECRET_CONTENT pattern cannot match without (lower-cased). Scanning a file's lower-cased bytes for
# these is ~20x faster than the regexes on large binary files, so a regex only runs where its hint occurs.
SECRET_HINTS = {
    "private key": (b"private key-----",),
    "AWS access key id": (b"akia", b"asia"),
    "AWS secret access key": (b"secret",),
    "GCP service account key": (b"service_account",),
    "Azure storage key": (b"accountkey=",),
}


def secret_kinds(data: bytes) -> list[str]:
    """What in ``data`` looks like a credential (the names of the matching ``SECRET_CONTENT`` patterns)."""
    lowered = data.lower()
    return [name for name, pattern in SECRET_CONTENT
            if any(hint in lowered for hint in SECRET_HINTS[name]) and pattern.search(data)]


_TEXT_PATTERNS = (
    re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----.*?(-----END ([A-Z]+ )?PRIVATE KEY-----|$)", re.DOTALL),
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"(AccountKey=)[A-Za-z0-9+/=]{20,}"),
    re.compile(r"((?:sig|se|sv)=)[A-Za-z0-9%+/=:-]{8,}"),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
)


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(str(key)))


def mask_mapping(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``values`` with secret-looking keys' values replaced by ``****``."""
    return {k: (MASK if is_secret_key(k) else v) for k, v in (values or {}).items()}


def mask_text(line: str, secrets: Mapping[str, Any] | None = None) -> str:
    """``line`` with known secret values and credential-looking substrings masked."""
    for key, value in (secrets or {}).items():
        text = str(value)
        if is_secret_key(key) and len(text) >= 4:
            line = line.replace(text, MASK)
    for pattern in _TEXT_PATTERNS:
        if pattern.groups and pattern.pattern.startswith("("):
            line = pattern.sub(lambda m: m.group(1) + MASK, line)
        else:
            line = pattern.sub(MASK, line)
    return line
