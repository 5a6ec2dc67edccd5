"""Money: Decimal yuan with two places in code, integer fen in the database, a string in JSON."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")
MAX_YUAN = Decimal("1000000000000")


_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")     # ASCII digits only: no exponent, spaces or other scripts' digits


def parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("amount must be a decimal string such as \"3000.00\"")
    if isinstance(value, Decimal):           # the service's own values (from the database, from arithmetic)
        if not value.is_finite():
            raise ValueError("amount must be finite")
        d, text = value, ""
    else:                                    # what a caller sent: written as §2 writes money, nothing else
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("amount must be finite")
        text = repr(value) if isinstance(value, float) else str(value)
        if not _DECIMAL.fullmatch(text):
            raise ValueError("amount must be ASCII digits with at most two decimals, such as \"3000.00\"")
        d = Decimal(text)
    if d < 0 or text.startswith("-"):
        raise ValueError("amount must not be negative")
    if d > MAX_YUAN:
        raise ValueError("amount exceeds 1e12 yuan")
    if d != d.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("amount has more than two decimals")
    return d.quantize(CENT)


def format_money(d: Decimal) -> str:
    return f"{d.quantize(CENT):f}"


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "examples": ["3000.00"]}),
]


def _positive(d: Decimal) -> Decimal:
    if d <= 0:
        raise ValueError("amount must be more than 0")
    return d


# An amount that moves money: more than zero.
PositiveMoney = Annotated[
    Decimal,
    BeforeValidator(_positive),
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "examples": ["3000.00"]}),
]


def round_fen(d: Decimal) -> Decimal:
    """Round half-up to the fen."""
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def to_fen(d: Decimal) -> int:
    return int(round_fen(d) * 100)


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)
