"""12-digit statistical division codes: PP CC DD TTT VVV."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

LEVELS = ("province", "city", "county", "township", "village")
_SPANS = ((2, 12), (4, 12), (6, 12), (9, 12), (12, 12))


def validate(code: str) -> str:
    if not isinstance(code, str) or len(code) != 12 or not code.isascii() or not code.isdigit():
        raise ValueError("region code must be 12 digits")
    level_of(code)
    return code


def level_of(code: str) -> str:
    """The level of a code; a code with digits after its zero padding is invalid."""
    for name, (used, _) in zip(LEVELS, _SPANS):
        if code[used:] == "0" * (12 - used) and code[:used] != "0" * used:
            return name
    raise ValueError("region code is not a valid division code")


def prefix(code: str) -> str:
    """The significant digits: every code in the subtree starts with them."""
    level = level_of(code)
    return code[: dict(zip(LEVELS, (2, 4, 6, 9, 12)))[level]]


def parent(code: str) -> str | None:
    level = level_of(code)
    cut = {"village": 9, "township": 6, "county": 4, "city": 2, "province": 0}[level]
    return None if cut == 0 else code[:cut].ljust(12, "0")


def covers(scope: str, code: str) -> bool:
    """True when ``code`` lies in the subtree of ``scope`` (itself included)."""
    return code.startswith(prefix(scope))


def depth(code: str) -> int:
    return LEVELS.index(level_of(code))


RegionCode = Annotated[str, AfterValidator(validate)]
