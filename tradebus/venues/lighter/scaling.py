"""Lighter's integer order units (pure): sizes and prices travel as integers scaled by the
market's `size_decimals` / `price_decimals`, and a size below `min_base_amount` is refused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: Lighter's client order index is a 48-bit unsigned integer.
MAX_CLIENT_INDEX = (1 << 48) - 1


@dataclass(frozen=True, slots=True)
class LighterMarket:
    market_id: int
    size_decimals: int
    price_decimals: int
    min_base_amount: Decimal

    @classmethod
    def from_details(cls, d: dict[str, Any]) -> LighterMarket:
        """From one entry of `orderBookDetails` (strings or numbers, as the venue sends them)."""
        try:
            return cls(
                market_id=int(d["market_id"]),
                size_decimals=int(d["size_decimals"]),
                price_decimals=int(d["price_decimals"]),
                min_base_amount=Decimal(str(d["min_base_amount"])),
            )
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"lighter market details: bad or missing field {exc}") from exc

    def base_amount(self, qty: Decimal) -> int:
        """`qty` in base units; ValueError if it is below the minimum or finer than allowed."""
        if qty < self.min_base_amount:
            raise ValueError(f"qty: {qty} is below the minimum size {self.min_base_amount}")
        scaled = qty.scaleb(self.size_decimals)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"qty: {qty} has more than {self.size_decimals} decimals")
        return int(scaled)

    def price_units(self, price: Decimal) -> int:
        scaled = price.scaleb(self.price_decimals)
        if scaled != scaled.to_integral_value() or price <= 0:
            raise ValueError(f"price: {price} must be positive with at most {self.price_decimals} decimals")
        return int(scaled)

    def qty_of(self, base_amount: int) -> Decimal:
        return Decimal(base_amount).scaleb(-self.size_decimals)


def client_index(client_order_id: str) -> int:
    """Our string client order id as Lighter's integer index: a stable 48-bit hash (never 0,
    which Lighter reserves for grouped orders)."""
    digest = hashlib.sha256(client_order_id.encode()).digest()
    return int.from_bytes(digest[:6], "big") % MAX_CLIENT_INDEX + 1
