"""Ignore rules and credential names for bundling (``cloudml.packaging`` uses and re-exports them).

Invariants: ``IgnoreRules`` reads ``.gitignore``-style patterns (``*``, ``?``, ``**``, trailing ``/``, leading ``/``,
``!``; the last matching rule wins); ``CREDENTIAL_NAMES`` are matched case-insensitively and at any depth (a
pattern holding ``/`` such as ``.docker/config.json`` also matches under ``ci/``), on a file's own path, each of its
parent folders, and, for a link, its target's path.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

DEFAULT_IGNORES = (
    # version control, environments, caches: left out silently
    ".git/", ".hg/", ".svn/", ".venv/", "venv/", ".tox/", "__pycache__/", "*.pyc", ".mypy_cache/",
    ".pytest_cache/", ".ruff_cache/", ".ipynb_checkpoints/", ".DS_Store", ".cloudml/",
)
CREDENTIAL_NAMES = (
    # never bundled; present and not listed in .cloudmlignore, they refuse the bundle (unless allow_secrets).
    # Matched case-insensitively, at any depth (``a/b/.docker/config.json`` too).
    ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.ppk", "*.jks", "*.keystore", "id_rsa*",
    "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.gpg", "secring.*", ".gnupg/", ".ssh/", ".aws/", ".azure/",
    ".config/gcloud/", "gcloud/", "application_default_credentials.json", ".netrc", "_netrc", ".git-credentials",
    ".pypirc", ".npmrc", ".pgpass", ".htpasswd", ".docker/config.json", "kubeconfig", "*.kubeconfig", ".kube/",
    "terraform.tfstate", "*.tfstate", "*.tfstate.backup", ".terraform/", ".bash_history", ".zsh_history",
    ".python_history", ".psql_history", ".mysql_history", ".node_repl_history",
)


class IgnoreRules:
    """``.gitignore``-style rules: ``*``, ``?``, ``**``, trailing ``/`` (folders), leading ``/`` (anchored),
    ``!`` (re-include). The last matching rule wins."""

    def __init__(self, patterns: Iterable[str], *, ignore_case: bool = False, any_depth: bool = False):
        """``ignore_case``: match names case-insensitively; ``any_depth``: a pattern holding ``/`` matches at
        any depth too (for credential names: ``.docker/config.json`` also under ``ci/``)."""
        self.rules: list[tuple[re.Pattern[str], bool, bool]] = []
        for raw in patterns:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line[1:] if negate else line
            dir_only = line.endswith("/")
            line = line.strip("/") if dir_only else line
            anchored = line.startswith("/") or ("/" in line and not any_depth)
            line = line.lstrip("/")
            regex = self._translate(line)
            regex = ("^" if anchored else "^(?:.*/)?") + regex + "$"
            self.rules.append((re.compile(regex, re.IGNORECASE if ignore_case else 0), negate, dir_only))

    @staticmethod
    def _translate(pattern: str) -> str:
        out, i = [], 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif pattern.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                c = pattern[i]
                out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else
                           fnmatch.translate(c)[4:-3] if c == "[" else re.escape(c))
                i += 1
        return "".join(out)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for regex, negate, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            if regex.match(rel):
                result = not negate
        return result


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


_CREDENTIAL_RULES = IgnoreRules(CREDENTIAL_NAMES, ignore_case=True, any_depth=True)


def credential_named(files: Sequence[str], links: dict[str, str] | None = None) -> list[str]:
    """The files whose path (the name or a parent folder) matches ``CREDENTIAL_NAMES`` (case-insensitively, at
    any depth), or that are links to such a file (``links``: link -> target)."""
    rules = _CREDENTIAL_RULES

    def named(rel: str) -> bool:
        return rules.ignored(rel, False) or any(rules.ignored(p, True) for p in _parents(rel))

    links = links or {}
    return [rel for rel in files if named(rel) or (rel in links and named(links[rel]))]
