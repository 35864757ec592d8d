"""cloudml's configuration file: per-provider settings that become ``provider_options``, and CLI defaults.

The file is ``config.ini`` in ``CLOUDML_CONFIG_DIR`` (else the user config dir from platformdirs, e.g.
``~/.config/cloudml``)::

    [defaults]
    provider = sagemaker            ; used when neither --provider nor Estimator(provider=...) is given

    [sagemaker]
    bucket = my-bucket
    role_arn = arn:aws:iam::123456789012:role/SageMakerRole
    region = us-east-1

Invariants:
- precedence, highest first: options given in code or on the command line (``-C key=value``), then the
  environment variable ``CLOUDML_<PROVIDER>_<KEY>`` (e.g. ``CLOUDML_SAGEMAKER_BUCKET``), then this file. A
  provider reads its own environment variables for keys the file does not set, so ``provider_options`` only
  carries file keys (with their environment override applied);
- values are strings, exactly as providers receive environment variables; providers parse them;
- reading never fails silently: a malformed file raises ``ConfigurationError`` naming the file and line;
- the file is written with mode 0600 (it may hold tokens); anything printed goes through ``mask_mapping``.
Standard library (plus platformdirs for the default folder); importing this module imports no provider.
"""

from __future__ import annotations

import configparser
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cloudml.errors import ConfigurationError, ValidationError

FILE_NAME = "config.ini"
DEFAULTS = "defaults"
#: keys of the [defaults] section, each with what it sets
DEFAULT_KEYS = {"provider": "the provider used when none is given (CLI --provider, Estimator(provider=...))"}
FALLBACK_PROVIDER = "local"
#: providers cloudml ships (a section for one is accepted even before its module is importable)
BUILTIN_PROVIDERS = ("local", "sagemaker", "vertex", "azureml")


def known_providers() -> list[str]:
    from cloudml import providers

    return sorted(set(BUILTIN_PROVIDERS) | set(providers.available()))


def config_dir() -> Path:
    if os.environ.get("CLOUDML_CONFIG_DIR"):
        return Path(os.environ["CLOUDML_CONFIG_DIR"])
    import platformdirs

    return Path(platformdirs.user_config_dir("cloudml"))


def cache_dir() -> Path:
    """Where bundles, downloads and the refreshed price catalog are cached: ``CLOUDML_CACHE_DIR`` or the user
    cache dir."""
    if os.environ.get("CLOUDML_CACHE_DIR"):
        return Path(os.environ["CLOUDML_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("cloudml"))


def config_path() -> Path:
    return config_dir() / FILE_NAME


def env_name(section: str, key: str) -> str:
    """``("sagemaker", "role_arn")`` -> ``CLOUDML_SAGEMAKER_ROLE_ARN``; ``[defaults] provider`` ->
    ``CLOUDML_DEFAULT_PROVIDER``."""
    if section == DEFAULTS:
        return f"CLOUDML_DEFAULT_{key.upper()}"
    return f"CLOUDML_{section.upper().replace('-', '_')}_{key.upper().replace('-', '_')}"


@dataclass
class Config:
    """The parsed file: section -> key -> value (strings)."""

    path: Path
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    exists: bool = False

    def section(self, name: str) -> dict[str, str]:
        return dict(self.sections.get(name, {}))


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="__none__",
                                       inline_comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys as written
    return parser


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the configuration file (a missing file is an empty configuration)."""
    file = Path(path) if path is not None else config_path()
    if not file.is_file():
        return Config(file)
    parser = _parser()
    try:
        parser.read(file, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigurationError(f"cannot read {file}: {exc}".replace("\n", " ")) from None
    return Config(file, {s: dict(parser.items(s)) for s in parser.sections()}, exists=True)


def provider_options(name: str, environ: Mapping[str, str] | None = None,
                     config: Config | None = None) -> dict[str, str]:
    """The ``provider_options`` the configuration gives provider ``name``: its section of the file, each key
    overridden by ``CLOUDML_<NAME>_<KEY>`` when that is set. No network, no provider import."""
    env = os.environ if environ is None else environ
    cfg = config if config is not None else load()
    options = cfg.section(name)
    for key in options:
        value = env.get(env_name(name, key))
        if value:
            options[key] = value
    return options


def default_provider(environ: Mapping[str, str] | None = None, config: Config | None = None) -> str:
    """``CLOUDML_DEFAULT_PROVIDER``, else ``[defaults] provider``, else ``local``."""
    env = os.environ if environ is None else environ
    if env.get(env_name(DEFAULTS, "provider")):
        return env[env_name(DEFAULTS, "provider")]
    cfg = config if config is not None else load()
    return cfg.section(DEFAULTS).get("provider") or FALLBACK_PROVIDER


def effective(environ: Mapping[str, str] | None = None, config: Config | None = None
              ) -> dict[str, dict[str, tuple[str, str]]]:
    """Every setting in force: section -> key -> (value, source), source ``file`` or the environment variable.
    Includes ``CLOUDML_<PROVIDER>_<KEY>`` variables for known providers even when the file lacks the key."""
    env = os.environ if environ is None else environ
    cfg = config if config is not None else load()
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for section, values in cfg.sections.items():
        out[section] = {k: (v, "file") for k, v in values.items()}
    for section in [DEFAULTS, *known_providers()]:
        prefix = env_name(section, "")
        for var, value in env.items():
            if var.startswith(prefix) and value and var != prefix:
                key = var[len(prefix):].lower()
                out.setdefault(section, {})[key] = (value, var)
    return out


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _check_key(key: str) -> tuple[str, str]:
    section, _, option = key.partition(".")
    known = [DEFAULTS, *known_providers()]
    if not option or not section:
        raise ValidationError(key, "is not SECTION.KEY", "e.g. sagemaker.bucket or defaults.provider")
    if section not in known:
        raise ValidationError(key, f"unknown section {section!r}",
                              _suggest(section, known) + "sections: " + ", ".join(known))
    if section == DEFAULTS and option not in DEFAULT_KEYS:
        raise ValidationError(key, f"unknown key {option!r} in [defaults]",
                              _suggest(option, list(DEFAULT_KEYS)) + "keys: " + ", ".join(DEFAULT_KEYS))
    return section, option


def _write(cfg: Config) -> None:
    parser = _parser()
    for section in sorted(cfg.sections, key=lambda s: (s != DEFAULTS, s)):
        if cfg.sections[section]:
            parser[section] = dict(sorted(cfg.sections[section].items()))
    cfg.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfg.path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# cloudml configuration: `cloudml config show`; precedence: flags > CLOUDML_<PROVIDER>_<KEY> > this file\n")
        parser.write(f)
    os.replace(tmp, cfg.path)


def set_value(key: str, value: str) -> Path:
    """Set ``SECTION.KEY`` (``sagemaker.bucket``) to ``value`` in the file; returns the file's path."""
    section, option = _check_key(key)
    if section == DEFAULTS and option == "provider" and value not in known_providers():
        raise ValidationError("defaults.provider", f"unknown provider {value!r}",
                              _suggest(value, known_providers()) + "one of: " + ", ".join(known_providers()))
    if "\n" in value:
        raise ValidationError(key, "values are one line")
    cfg = load()
    cfg.sections.setdefault(section, {})[option] = value
    _write(cfg)
    return cfg.path


def unset_value(key: str) -> bool:
    """Remove ``SECTION.KEY`` from the file; returns whether it was there."""
    section, _, option = key.partition(".")
    cfg = load()
    if option not in cfg.sections.get(section, {}):
        return False
    del cfg.sections[section][option]
    _write(cfg)
    return True


def problems(config: Config | None = None) -> list[str]:
    """What is wrong with the file, without importing any provider: unknown sections or [defaults] keys,
    an unknown default provider, secrets in a file others can read."""
    from cloudml.runtime.secrets import is_secret_key

    try:
        cfg = config if config is not None else load()
    except ConfigurationError as exc:
        return [str(exc)]
    known = [DEFAULTS, *known_providers()]
    found = []
    for section, values in cfg.sections.items():
        if section not in known:
            found.append(f"{cfg.path}: unknown section [{section}] ({_suggest(section, known)}sections: {', '.join(known)})")
        elif section == DEFAULTS:
            for key in values:
                if key not in DEFAULT_KEYS:
                    found.append(f"{cfg.path}: unknown key {key!r} in [defaults] "
                                 f"({_suggest(key, list(DEFAULT_KEYS))}keys: {', '.join(DEFAULT_KEYS)})")
    provider = cfg.section(DEFAULTS).get("provider")
    if provider and provider not in known_providers():
        found.append(f"{cfg.path}: [defaults] provider = {provider!r} is not a provider "
                     f"({_suggest(provider, known_providers())}one of: {', '.join(known_providers())})")
    if cfg.exists and cfg.path.stat().st_mode & 0o077:
        secret_keys = [f"{s}.{k}" for s, values in cfg.sections.items() for k in values if is_secret_key(k)]
        if secret_keys:
            found.append(f"{cfg.path} holds {', '.join(secret_keys)} and others can read it: chmod 600 {cfg.path}")
    return found


__all__ = ["Config", "config_dir", "config_path", "default_provider", "effective", "known_providers", "load",
           "problems", "provider_options", "set_value", "unset_value"]
