"""Find a strategy class from a spec: a builtin name, an entry point in `tradebus.strategies`,
`path/to/file.py:ClassName`, `package.module:ClassName`, or YAML rules (`rules:file.yaml`)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from services.signals.api import API_VERSION, Strategy, StrategyParams

ENTRY_POINT_GROUP = "tradebus.strategies"


class StrategyLoadError(ValueError):
    """A strategy spec that cannot be loaded; the message names the spec and the reason."""


def check_strategy_class(obj: object, origin: str) -> type[Strategy[Any]]:
    """Return `obj` if it is a usable Strategy class, else raise StrategyLoadError."""
    if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
        raise StrategyLoadError(f"{origin}: {obj!r} is not a subclass of Strategy")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise StrategyLoadError(f"{origin}: {obj.__name__} has no `name` (a non-empty str)")
    params = getattr(obj, "Params", None)
    if not (inspect.isclass(params) and issubclass(params, StrategyParams)):
        raise StrategyLoadError(f"{origin}: {obj.__name__}.Params must be a subclass of StrategyParams")
    if obj.api_version > API_VERSION:
        raise StrategyLoadError(
            f"{origin}: {obj.__name__} needs strategy API {obj.api_version}, this build speaks {API_VERSION}"
        )
    return obj


def _load_file(path_text: str, attr: str, spec: str) -> object:
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise StrategyLoadError(f"{spec}: no such file {path}")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    mod_name = f"tradebus_user_strategy_{path.stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise StrategyLoadError(f"{spec}: cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(mod_name, None)
        raise StrategyLoadError(f"{spec}: importing {path} failed: {exc!r}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise StrategyLoadError(f"{spec}: {path} has no attribute {attr!r}") from None


def _load_module_attr(mod_name: str, attr: str, spec: str) -> object:
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise StrategyLoadError(f"{spec}: cannot import module {mod_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise StrategyLoadError(f"{spec}: module {mod_name!r} has no attribute {attr!r}") from None


def entry_point_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_strategy_class(spec: str, builtin: Mapping[str, type[Strategy[Any]]]) -> type[Strategy[Any]]:
    """Resolve `spec` (see the module docstring); StrategyLoadError says why it cannot."""
    spec = spec.strip()
    if not spec:
        raise StrategyLoadError("empty strategy spec")
    if spec.startswith("rules:") or spec.endswith((".yaml", ".yml")):
        from services.signals.strategies.rules import load_rules_class

        rules_cls: type[Strategy[Any]] = load_rules_class(spec.removeprefix("rules:"))
        return rules_cls
    if ":" in spec:
        where, _, attr = spec.rpartition(":")
        if not attr.isidentifier():
            raise StrategyLoadError(f"{spec}: {attr!r} is not a class name")
        if where.endswith(".py") or "/" in where or "\\" in where:
            obj = _load_file(where, attr, spec)
        else:
            obj = _load_module_attr(where, attr, spec)
        return check_strategy_class(obj, spec)
    if spec in builtin:
        return builtin[spec]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            try:
                obj = ep.load()
            except Exception as exc:
                raise StrategyLoadError(f"{spec}: entry point {ep.value} failed: {exc!r}") from exc
            return check_strategy_class(obj, f"entry point {spec} ({ep.value})")
    known = ", ".join(sorted(builtin) + entry_point_names())
    raise StrategyLoadError(
        f"unknown strategy {spec!r}: not a builtin or a `{ENTRY_POINT_GROUP}` entry point "
        f"(known: {known}); use path/to/file.py:ClassName or package.module:ClassName"
    )
