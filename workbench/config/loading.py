"""Build a frozen dataclass from ``params.yaml``'s section for a stage, with ``key=value`` overrides.

Unknown keys are errors naming the file and the key, so a typo in params.yaml or ``-S`` never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from workbench.errors import ConfigError, MissingInputError

T = TypeVar("T")


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["beam_size=5", "language=null"]`` -> {"beam_size": 5, "language": None} (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {pair!r} is not key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {annotation}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, *_rest) = typing.get_args(annotation) or (Any,)
        return tuple(_coerce(v, inner, where) for v in value)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return build_config(annotation, value, where)
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool, float) and not isinstance(value, annotation):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    if annotation is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    return value


def build_config(cls: type[T], values: Mapping, where: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:  # a section may name its keys (KEY_NAME = "loss": "unknown loss(es)")
        raise ConfigError(f"{where}: unknown {getattr(cls, 'KEY_NAME', 'key')}(s) {unknown}; known: {sorted(names)}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if dataclasses.is_dataclass(f.default)}
    kwargs = {}
    for key, value in values.items():
        if key in defaults and isinstance(value, Mapping):
            # a partial nested section overrides the field's own default, not the class defaults
            value = {**dataclasses.asdict(defaults[key]), **value}
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except ValueError as error:  # a config's own validation (__post_init__): say where it came from
        raise ConfigError(f"{where}: {error}") from error


def _set_dotted(target: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
    target[leaf] = value


def _deep_merge(base: dict, top: Mapping) -> dict:
    merged = dict(base)
    for key, value in top.items():
        merged[key] = (_deep_merge(merged[key], value)
                       if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) else value)
    return merged


def apply_profile(values: dict, where: str) -> dict:
    """A section with ``profile: NAME`` and ``profiles: {NAME: {...}}``: the named profile's values
    are merged over the section's own (the profile wins), and ``profiles`` is dropped; the
    ``profile`` key stays so the run records which one it used."""
    profiles = values.pop("profiles", None)
    name = values.get("profile")
    if profiles is None or name is None:
        return values
    if not isinstance(profiles, Mapping) or name not in profiles:
        known = list(profiles) if isinstance(profiles, Mapping) else profiles
        raise ConfigError(f"{where}: profile {name!r} is not among the profiles {known}")
    return _deep_merge(values, profiles[name] or {})


_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def resolve_references(values: Any, document: Mapping, where: str) -> Any:
    """``${models.whisper}`` in a params value: the value at that dotted path of the params file,
    the same syntax dvc.yaml's templating uses, so a path is written once (``models:``) and both
    the stages and DVC's dependencies follow it."""
    if isinstance(values, Mapping):
        return {key: resolve_references(value, document, where) for key, value in values.items()}
    if isinstance(values, list):
        return [resolve_references(value, document, where) for value in values]
    if not isinstance(values, str) or "${" not in values:
        return values

    def lookup(match: re.Match) -> str:
        node: Any = document
        for part in match.group(1).split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"{where}: ${{{match.group(1)}}} refers to nothing in the params file")
            node = node[part]
        if isinstance(node, (Mapping, list)):
            raise ConfigError(f"{where}: ${{{match.group(1)}}} is a section, not a value")
        return str(node)

    return _REFERENCE.sub(lookup, values)


def load_config(cls: type[T], params: Path | str | None, section: str, overrides: Mapping[str, Any] | None = None) -> T:
    """The ``section`` of a params file as ``cls``; a missing file or section gives the defaults."""
    values: dict[str, Any] = {}
    source = "<defaults>"
    if params is not None and Path(params).is_file():
        source = str(params)
        document = yaml.safe_load(Path(params).read_text(encoding="utf-8")) or {}
        raw = document.get(section, {}) or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{params}: section {section!r} must be a mapping")
        values = resolve_references(dict(raw), document, f"{params}:{section}")
    elif params is not None and str(params) != "params.yaml":
        raise ConfigError(f"params file {params} not found")
    profile_override = (overrides or {}).get("profile")
    if profile_override is not None:
        values["profile"] = profile_override
    values = apply_profile(values, f"{source}:{section}")
    for key, value in (overrides or {}).items():
        _set_dotted(values, key, value)
    return build_config(cls, values, f"{source}:{section}")


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def load_experiment_file(cls: type[T], path: Path | str, required: Sequence[str] = ("name",)) -> T:
    """An experiment YAML (one row of a seed's table) as ``cls``: strict keys, errors naming the
    file (``cls.__post_init__``'s too), ``name`` equal to the file's stem (DVC keys the runs by
    it); then ``cls.validate(where)`` if the class has one."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "experiment file")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(values, dict) or any(key not in values for key in required):
        raise ConfigError(f"{path}: an experiment is a mapping with at least {', '.join(repr(k) for k in required)}")
    experiment = build_config(cls, values, str(path))
    if hasattr(experiment, "validate"):
        experiment.validate(str(path))
    if experiment.name != path.stem:
        raise ConfigError(f"{path}: name {experiment.name!r} must equal the file name {path.stem!r} "
                          "(DVC keys runs by it)")
    return experiment
