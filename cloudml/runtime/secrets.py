"""Recognising and masking secrets.

Standard library only (shipped inside bundles). Invariants:
- any mapping printed or logged by cloudml goes through ``mask_mapping`` first, and every free text line through
  ``mask_text`` (or a ``Masker`` built once for a stream of lines); values under keys that look secret never appear;
- the secrets a job knows are its hyperparameters and environment under secret-looking keys PLUS the secret-named
  variables of the environment it inherits (``AWS_SECRET_ACCESS_KEY``, ``HF_TOKEN``, ``GITHUB_TOKEN``,
  ``OPENAI_API_KEY`` ...: ``env_secrets``);
- masking is linear in the size of the text: the known values are compiled once into one trie-shaped regex, so
  20,000 hyperparameters cost one pass per line, not 20,000;
- ``secret_kinds`` recognises credentials by content (private keys of every armour, PuTTY keys, cloud keys,
  GitHub / Slack / Stripe / OpenAI / Hugging Face tokens, Azure SAS signatures), for bundling and log masking alike.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "****"
SECRET_KEY = re.compile(r"(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|"
                        r"(^|[_-])key$|sas$|connection[_-]?string|(^|[_-])pat$|auth)", re.IGNORECASE)
MIN_SECRET_LENGTH = 4         # shorter values are not masked (they would mask every "1" or "true")
MIN_INHERITED_LENGTH = 6      # inherited variables: only values long enough to be credentials

# Content that is a credential whatever file or line it is in.
SECRET_CONTENT = (
    ("private key", re.compile(rb"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")),
    ("PuTTY private key", re.compile(rb"PuTTY-User-Key-File-\d+:")),
    ("AWS access key id", re.compile(rb"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("AWS secret access key", re.compile(
        rb"(aws_?secret_?(access_?)?key|secret_?access_?key)['\"]?\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}", re.IGNORECASE)),
    ("GCP service account key", re.compile(rb'"type"\s*:\s*"service_account"')),
    ("Azure storage key", re.compile(rb"AccountKey=[A-Za-z0-9+/=]{40,}")),
    ("Azure SAS signature", re.compile(rb"[?&;]sig=[A-Za-z0-9%+/=]{20,}")),
    ("GitHub token", re.compile(rb"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("Slack token", re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Stripe key", re.compile(rb"\b[rs]k_live_[A-Za-z0-9]{16,}")),
    ("OpenAI key", re.compile(rb"\bsk-(proj-|svcacct-|admin-)[A-Za-z0-9_-]{20,}|\bsk-[A-Za-z0-9]{40,}")),
    ("Hugging Face token", re.compile(rb"\bhf_[A-Za-z0-9]{30,}")),
    ("Google API key", re.compile(rb"\bAIza[0-9A-Za-z_-]{35}")),
)

# Text each SECRET_CONTENT pattern cannot match without (lower-cased). Scanning a file's lower-cased bytes for
# these is ~20x faster than the regexes on large binary files, so a regex only runs where its hint occurs.
SECRET_HINTS = {
    "private key": (b"private key",),
    "PuTTY private key": (b"putty-user-key-file-",),
    "AWS access key id": (b"akia", b"asia"),
    "AWS secret access key": (b"secret",),
    "GCP service account key": (b"service_account",),
    "Azure storage key": (b"accountkey=",),
    "Azure SAS signature": (b"sig=",),
    "GitHub token": (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
    "Slack token": (b"xox",),
    "Stripe key": (b"k_live_",),
    "OpenAI key": (b"sk-",),
    "Hugging Face token": (b"hf_",),
    "Google API key": (b"aiza",),
}
#: How many bytes a match can span: a scanner reading a file in chunks keeps this much of the previous one.
SCAN_OVERLAP = 8192


def secret_kinds(data: bytes) -> list[str]:
    """What in ``data`` looks like a credential (the names of the matching ``SECRET_CONTENT`` patterns)."""
    lowered = data.lower()
    return [name for name, pattern in SECRET_CONTENT
            if any(hint in lowered for hint in SECRET_HINTS[name]) and pattern.search(data)]


_TEXT_PATTERNS = (
    re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----.*?(-----END ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----|$)",
               re.DOTALL),
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"(AccountKey=)[A-Za-z0-9+/=]{20,}"),
    re.compile(r"((?:sig|se|sv)=)[A-Za-z0-9%+/=:-]{8,}"),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\b[rs]k_live_[A-Za-z0-9]{16,}"),
    re.compile(r"\bsk-(?:proj-|svcacct-|admin-)[A-Za-z0-9_-]{20,}|\bsk-[A-Za-z0-9]{40,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    re.compile(r"(://[^/\s:@]+:)[^@\s/]{3,}(?=@)"),   # the password in https://user:password@host
)


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(str(key)))


def mask_mapping(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``values`` with secret-looking keys' values replaced by ``****``."""
    return {k: (MASK if is_secret_key(k) else v) for k, v in (values or {}).items()}


def env_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of ``environ`` (default ``os.environ``) whose names look secret and whose values are long
    enough to be credentials: what a process inherits and must never print."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items()
            if is_secret_key(k) and isinstance(v, str) and len(v) >= MIN_INHERITED_LENGTH}


def _trie_regex(words: Iterable[str]) -> str:
    """One regex matching any of ``words`` (longest first), shaped as a trie so matching costs the length of the
    text times the length of a word, whatever the number of words."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        chain = []
        while True:   # a run of single children is one literal (no recursion per character)
            keys = sorted(k for k in node if k)
            if len(keys) == 1 and "" not in node:
                chain.append(re.escape(keys[0]))
                node = node[keys[0]]
                continue
            break
        if not keys:
            return "".join(chain)
        branches = [re.escape(ch) + build(node[ch]) for ch in keys]
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "".join(chain) + (f"(?:{body})?" if "" in node else body)

    return build(trie)


class Masker:
    """Masks one job's known secret values and credential-looking text in line after line. Build it once
    (cost: the number and length of the values), then ``masker(line)`` is linear in the line."""

    def __init__(self, *mappings: Mapping[str, Any] | None, inherit: bool = False):
        values: set[str] = set()
        for mapping in mappings:
            for key, value in (mapping or {}).items():
                text = str(value)
                if is_secret_key(key) and len(text) >= MIN_SECRET_LENGTH:
                    values.add(text)
        if inherit:
            values.update(env_secrets().values())
        self._known = re.compile(_trie_regex(sorted(values, key=len, reverse=True))) if values else None

    def __call__(self, line: str) -> str:
        if self._known is not None:
            line = self._known.sub(MASK, line)
        for pattern in _TEXT_PATTERNS:
            if pattern.groups and pattern.pattern.startswith("("):
                line = pattern.sub(lambda m: m.group(1) + MASK, line)
            else:
                line = pattern.sub(MASK, line)
        return line


def mask_text(line: str, secrets: Mapping[str, Any] | None = None, *, inherit: bool = True) -> str:
    """``line`` with known secret values (``secrets`` under secret-looking keys and, with ``inherit``, this
    process's secret-named environment variables) and credential-looking substrings masked. For many lines
    build one ``Masker`` instead."""
    return Masker(secrets, inherit=inherit)(line)
