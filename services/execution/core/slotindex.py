"""Views over the netting book's slots, kept between calls instead of rebuilt on every tick.

Slots and venue positions are only ever added (never removed) and `restore` replaces the dicts
whole, so a view is current as long as the dict it was built from is the same object with the
same length.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from services.execution.core.positions import Slot

Key = tuple[str, str]


class SlotIndex:
    def __init__(self) -> None:
        self._of: tuple[int, int] = (0, -1)
        self._sorted: list[tuple[Key, Slot]] = []
        self._by_symbol: dict[str, list[tuple[str, Slot]]] = {}
        self._symbols_of: tuple[int, int, int] = (0, -1, -1)
        self._symbols: list[str] = []

    def _refresh(self, slots: Mapping[Key, Slot]) -> None:
        key = (id(slots), len(slots))
        if key != self._of:
            self._sorted = sorted(slots.items())
            self._by_symbol = {}
            for (st, sy), slot in slots.items():
                self._by_symbol.setdefault(sy, []).append((st, slot))
            self._of = key

    def sorted(self, slots: Mapping[Key, Slot]) -> list[tuple[Key, Slot]]:
        """`sorted(slots.items())`: by (strategy, symbol)."""
        self._refresh(slots)
        return self._sorted

    def of_symbol(self, slots: Mapping[Key, Slot], symbol: str) -> list[tuple[str, Slot]]:
        """The slots of `symbol` as (strategy, slot), in the order they were made."""
        self._refresh(slots)
        return self._by_symbol.get(symbol, [])

    def symbols(self, slots: Mapping[Key, Slot], venue_pos: Mapping[str, Decimal]) -> list[str]:
        """Every symbol with a slot or a venue position, sorted."""
        self._refresh(slots)
        key = (id(venue_pos), len(venue_pos), len(self._by_symbol))
        if key != self._symbols_of:
            self._symbols = sorted(self._by_symbol.keys() | venue_pos.keys())
            self._symbols_of = key
        return self._symbols
