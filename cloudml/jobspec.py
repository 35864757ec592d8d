"""The job YAML: ``Estimator(...)``, ``fit(inputs)`` and ``deploy(...)`` written as a file, key for key.

    entry_point: train.py          # Estimator(entry_point=...)
    source_dir: .                  # relative paths are relative to this file
    framework: pytorch
    hyperparameters: {epochs: 20}
    resources: {accelerator: "A100:1", spot: true, max_total_usd: 50}
    inputs: {training: data/}      # fit(inputs=...)
    deploy: {min_replicas: 1}      # deploy(...) defaults for `cloudml deploy`

Invariants:
- every key is a keyword of ``Estimator`` (``resources`` holds ``Resources`` fields), plus ``inputs`` and
  ``job_name`` (``fit``) and ``deploy`` (``Estimator.deploy``); ``SCHEMA`` lists them and a test keeps it equal
  to the Python signatures;
- an unknown key is an error naming the file, line and key with a "did you mean" suggestion; a wrong type names the
  key and the type wanted; a missing file names the path: all ``ValidationError`` (CLI exit code 2), before any
  provider is touched;
- relative local paths (``source_dir``, ``inputs``, ``checkpoint_uri``, ``output_uri``) resolve against the YAML
  file's folder; URIs (``s3://``, ``gs://``, ``azureml://`` ...) pass through unchanged;
- ``--set a.b=value`` overrides are applied before validation, so they get the same checks (values are YAML);
- YAML 1.2 booleans: only ``true``/``false`` are booleans; ``yes``, ``no``, ``on``, ``off`` stay strings;
- a key given twice in one mapping is an error naming both lines (YAML says keys are unique; PyYAML would keep
  the last silently); aliases may not expand the document beyond ``MAX_EXPANDED_NODES`` nodes (an alias bomb is
  refused after composing, in linear time, before anything is built from it); recursive aliases are refused.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudml.errors import ValidationError
from cloudml.spec import uri_scheme

# Types: "str", "int", "number", "bool", "map" (any JSON values), "strmap" (string values; scalars are turned
# into strings), "strlist", "inputs" (a path/URI or a map of channel -> path/URI), or a nested schema (a dict).
RESOURCES: dict[str, Any] = {
    "instance_type": "str", "accelerator": "str", "spot": "bool", "max_hourly_usd": "number",
    "max_total_usd": "number", "min_accelerator_memory_gib": "number", "min_vcpus": "int",
    "min_memory_gib": "number", "region": "str", "volume_gb": "int",
}
DEPLOY: dict[str, Any] = {
    "instance_type": "str", "accelerator": "str", "min_replicas": "int", "max_replicas": "int",
    "endpoint_name": "str", "inference_entry_point": "str", "environment": "strmap", "ttl_seconds": "int",
    "tags": "strmap",
}
SCHEMA: dict[str, Any] = {
    "entry_point": "str", "source_dir": "str", "framework": "str", "framework_version": "str",
    "resources": RESOURCES, "instance_type": "str", "instance_count": "int", "processes_per_node": "int",
    "distribution": "str", "hyperparameters": "map", "environment": "strmap", "provider": "str",
    "provider_options": "map", "base_job_name": "str", "max_run_seconds": "int", "max_wait_seconds": "int",
    "checkpoint_uri": "str", "output_uri": "str", "tags": "strmap", "ignore": "strlist", "allow_secrets": "bool",
    "failover": "bool", "max_attempts": "int", "failover_providers": "strlist", "failover_options": "map",
    # fit() and deploy()
    "inputs": "inputs", "job_name": "str", "deploy": DEPLOY,
}
REQUIRED = ("entry_point",)
_WANTED = {"str": "a string", "int": "a whole number", "number": "a number", "bool": "true or false",
           "map": "a mapping (key: value lines)", "strmap": "a mapping of names to strings",
           "strlist": "a list of strings", "inputs": "a path/URI or a mapping of channel name to path/URI"}


_LOADER: Any = None
MAX_EXPANDED_NODES = 100_000


def _loader() -> Any:
    """A safe loader with YAML 1.2 booleans: only true/false are booleans (``ON: 1`` keeps the key "ON",
    ``country: NO`` stays "NO")."""
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        class Loader(yaml.SafeLoader):
            def get_single_node(self) -> Any:
                node = super().get_single_node()
                if node is not None:
                    _check_expansion(node, yaml)
                return node

            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.setdefault(key, key_node.start_mark.line)
                    except TypeError:  # an unhashable key: PyYAML refuses it itself
                        continue
                    if first != key_node.start_mark.line:
                        raise yaml.constructor.ConstructorError(
                            "while reading a mapping", node.start_mark,
                            f"duplicate key {key!r} (first given on line {first + 1}); give each key once",
                            key_node.start_mark)
                return super().construct_mapping(node, deep)

        Loader.yaml_implicit_resolvers = {
            ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
            for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                     list("tTfF"))
        _LOADER = Loader
    return _LOADER


def _check_expansion(root: Any, yaml: Any) -> None:
    """Refuse a node graph that expands (aliases followed) beyond ``MAX_EXPANDED_NODES`` or loops on itself.
    Sizes are memoised per node, so this is linear in the composed graph however large the expansion."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = [] if isinstance(node, yaml.ScalarNode) else (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value))
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_EXPANDED_NODES:
                raise yaml.composer.ComposerError(None, None, f"the aliases expand this document beyond "
                                                  f"{MAX_EXPANDED_NODES} values (an alias bomb?)", node.start_mark)
            continue
        if key in sizes:
            continue
        if key in active:
            raise yaml.composer.ComposerError(None, None, "an alias refers to the mapping or list it is in "
                                              "(a recursive structure)", node.start_mark)
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def _load_yaml(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass


def suggestion(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _key_lines(text: str) -> dict[tuple[str, ...], tuple[int, str | None]]:
    """Line number (1-based) and raw scalar text of every mapping key, by key path."""
    import yaml

    lines: dict[tuple[str, ...], tuple[int, str | None]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    raw = value.value if isinstance(value, yaml.ScalarNode) else None
                    lines[(*path, key.value)] = (key.start_mark.line + 1, raw)
                    walk(value, (*path, key.value))

    try:
        walk(yaml.compose(text, Loader=_loader()), ())
    except yaml.YAMLError:
        pass
    return lines


def _check(value: Any, kind: Any, path: tuple[str, ...], where: Any, raw: Any = lambda path: None) -> Any:
    """Check ``value`` against ``kind``; return it normalised (strmap scalars as strings)."""
    if value is None:
        return None
    if isinstance(kind, dict):
        if not isinstance(value, Mapping):
            raise ValidationError(where(path), f"must be a mapping of {', '.join(kind)}")
        out = {}
        for key, item in value.items():
            if str(key) not in kind:
                close = suggestion(str(key), list(kind))
                hint = f"did you mean {close}?" if close else "known keys: " + ", ".join(kind)
                raise ValidationError(where((*path, str(key))), "unknown key", hint)
            out[str(key)] = _check(item, kind[str(key)], (*path, str(key)), where, raw)
        return out
    ok = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "map": lambda v: isinstance(v, Mapping),
        "strmap": lambda v: isinstance(v, Mapping) and all(isinstance(x, (str, int, float, bool)) for x in v.values()),
        "strlist": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "inputs": lambda v: isinstance(v, str) or (isinstance(v, Mapping) and all(isinstance(x, str) for x in v.values())),
    }[kind](value)
    if not ok:
        fix: str | None = None
        if kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
            text = raw(path) or str(value)
            fix = f"quote it: {path[-1]}: \"{text}\" (unquoted, YAML reads {text} as the number {value})"
        raise ValidationError(where(path), f"must be {_WANTED[kind]}, got {type(value).__name__} {value!r}", fix)
    if kind == "strmap":
        return {str(k): v if isinstance(v, str) else ("true" if v is True else "false" if v is False else str(v))
                for k, v in value.items()}
    if kind == "map":
        return {str(k): v for k, v in value.items()}
    return value


def parse_set(item: str) -> tuple[list[str], Any]:
    """``"hyperparameters.epochs=5"`` -> (["hyperparameters", "epochs"], 5); the value is read as YAML."""
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ValidationError("--set", f"{item!r} is not KEY=VALUE", "e.g. --set hyperparameters.epochs=5")
    try:
        value = _load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_sets(data: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    out = dict(data)
    for item in sets:
        path, value = parse_set(item)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, Mapping) else {}
            node[part] = child
            node = child
        node[path[-1]] = value
    return out


@dataclass(frozen=True)
class JobFile:
    """A validated job YAML. ``values`` holds only the keys the file (and ``--set``) gave."""

    path: Path
    values: Mapping[str, Any]

    @property
    def base(self) -> Path:
        return self.path.parent

    def _local(self, value: str) -> str:
        """A relative local path made relative to the YAML file; URIs and absolute paths unchanged."""
        if uri_scheme(value) is not None or value.lower().startswith("file://"):
            return value
        path = Path(os.path.expanduser(value))
        return str(path if path.is_absolute() else (self.base / path))

    @property
    def inputs(self) -> str | dict[str, str] | None:
        raw = self.values.get("inputs")
        if isinstance(raw, str):
            return self._local(raw)
        if isinstance(raw, Mapping):
            return {k: self._local(v) for k, v in raw.items()}
        return None

    @property
    def job_name(self) -> str | None:
        return self.values.get("job_name")

    @property
    def deploy(self) -> dict[str, Any]:
        return {k: v for k, v in dict(self.values.get("deploy") or {}).items() if v is not None}

    def estimator_kwargs(self, provider: str | None = None,
                         provider_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Keyword arguments for ``Estimator``: the file's values, ``provider`` and ``provider_options`` on top."""
        from cloudml.spec import Resources

        v = {k: val for k, val in self.values.items() if val is not None and k not in ("inputs", "job_name", "deploy")}
        v["source_dir"] = self._local(v.get("source_dir", "."))
        for key in ("checkpoint_uri", "output_uri"):
            if key in v:
                v[key] = self._local(v[key])
        if "resources" in v:
            v["resources"] = Resources(**{k: val for k, val in v["resources"].items() if val is not None})
        if "ignore" in v:
            v["ignore"] = tuple(v["ignore"])
        if provider:
            v["provider"] = provider
        if provider_options:
            v["provider_options"] = {**dict(v.get("provider_options") or {}), **provider_options}
        return v

    def estimator(self, provider: str | None = None, provider_options: Mapping[str, Any] | None = None) -> Any:
        from cloudml.estimators import Estimator

        kwargs = self.estimator_kwargs(provider, provider_options)
        return Estimator(kwargs.pop("entry_point"), **kwargs)


def parse(text: str, path: str | os.PathLike[str] = "job.yaml", sets: Sequence[str] = ()) -> JobFile:
    """Validate YAML ``text`` (as if read from ``path``) with ``--set`` overrides applied."""
    import yaml

    file = Path(path)
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        location = f"{file}:{mark.line + 1}" if mark is not None else str(file)
        raise ValidationError(location, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValidationError(str(file), f"must be a mapping of settings (entry_point: train.py ...), got {type(data).__name__}")
    data = apply_sets(dict(data), sets)
    lines = _key_lines(text)

    def where(key_path: tuple[str, ...]) -> str:
        line = lines.get(key_path, (None, None))[0]
        return f"{file}:{line}: {'.'.join(key_path)}" if line else f"{file}: {'.'.join(key_path)}"

    values = _check(data, SCHEMA, (), where, lambda key_path: lines.get(key_path, (None, None))[1])
    for key in REQUIRED:
        if not values.get(key):
            raise ValidationError(f"{file}: {key}", "is required", f"e.g. {key}: train.py")
    return JobFile(file.resolve(), values)


def load(path: str | os.PathLike[str], sets: Sequence[str] = ()) -> JobFile:
    """Read and validate the job YAML at ``path``. A missing file raises ``ValidationError`` naming it."""
    file = Path(path)
    if not file.is_file():
        why = "is a folder, not a job YAML" if file.is_dir() else "does not exist"
        raise ValidationError(str(path), f"job file {why}", "give the path of a job YAML, e.g. demo/job.yaml "
                              "(`cloudml init pytorch demo` writes one)")
    return parse(file.read_text(encoding="utf-8"), file, sets)


__all__ = ["DEPLOY", "RESOURCES", "SCHEMA", "JobFile", "apply_sets", "load", "parse", "parse_set"]
