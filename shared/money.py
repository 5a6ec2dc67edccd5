"""Money: Decimal yuan with two places in code, integer fen in the database, a string in JSON."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")
MAX_YUAN = Decimal("1000000000000")


def parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("amount must be a decimal string such as \"3000.00\"")
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("amount is not a number") from None
    if not d.is_finite():
        raise ValueError("amount must be finite")
    if d < 0:
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
