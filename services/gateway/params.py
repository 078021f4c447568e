"""Strategy parameters checked against the strategy's own model before they go live. Pure.

A change is merged over the stored parameters and the result is validated in pydantic's strict
JSON mode: a wrong type is an error (`"10"` for an int is refused), never coerced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from services.signals.api import StrategyParams
from services.signals.strategies import StrategyLoadError, load_strategy_class


class ParamsInvalid(ValueError):
    """`problems` are (location, message, type) triples, locations relative to the params object."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{'.'.join(map(str, loc)) or '(params)'}: {msg}" for loc, msg, _ in problems)
        )


class KindUnavailable(RuntimeError):
    """The strategy's class cannot be loaded here, so its parameters cannot be checked."""


def params_model(kind: str) -> type[StrategyParams]:
    try:
        return load_strategy_class(kind).Params
    except StrategyLoadError as exc:
        raise KindUnavailable(f"strategy kind {kind!r}: {exc}") from None


def merged_params(
    model: type[StrategyParams], current: Mapping[str, Any], change: Mapping[str, Any]
) -> dict[str, Any]:
    """The full parameter object after `change`, in the JSON form the signals process compares."""
    candidate = {**current, **change}
    try:
        parsed = model.model_validate_json(json.dumps(candidate), strict=True)
    except ValidationError as exc:
        raise ParamsInvalid([(tuple(e["loc"]), e["msg"], e["type"]) for e in exc.errors()]) from None
    except ValueError as exc:  # not JSON-encodable (cannot come from an HTTP body)
        raise ParamsInvalid([((), str(exc), "value_error")]) from None
    return dict(parsed.model_dump(mode="json"))
