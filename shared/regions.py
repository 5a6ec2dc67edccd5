"""12-digit statistical division codes: PP CC DD TTT VVV."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

LEVELS = ("province", "city", "county", "township", "village")
_SEGMENTS = ((0, 2), (2, 4), (4, 6), (6, 9), (9, 12))


def validate(code: str) -> str:
    if not isinstance(code, str) or len(code) != 12 or not code.isascii() or not code.isdigit():
        raise ValueError("region code must be 12 digits")
    level_of(code)
    return code


def level_of(code: str) -> str:
    """The level of a code: its last non-zero segment, with every segment before it non-zero."""
    segments = [code[a:b] for a, b in _SEGMENTS]
    nonzero = [int(seg) != 0 for seg in segments]
    if not nonzero[0] or not code.isdigit():
        raise ValueError("region code is not a valid division code")
    last = max(i for i, nz in enumerate(nonzero) if nz)
    if not all(nonzero[: last + 1]):
        raise ValueError("region code skips a level")
    return LEVELS[last]


def prefix(code: str) -> str:
    """The significant digits: every code in the subtree starts with them."""
    level = level_of(code)
    return code[: dict(zip(LEVELS, (2, 4, 6, 9, 12)))[level]]


def parent(code: str) -> str | None:
    level = level_of(code)
    cut = {"village": 9, "township": 6, "county": 4, "city": 2, "province": 0}[level]
    return None if cut == 0 else code[:cut].ljust(12, "0")


def ancestors(code: str) -> list[str]:
    """The regions above ``code``, nearest first."""
    out: list[str] = []
    while (code := parent(code)) is not None:
        out.append(code)
    return out


def covers(scope: str, code: str) -> bool:
    """True when ``code`` lies in the subtree of ``scope`` (itself included)."""
    return code.startswith(prefix(scope))


def depth(code: str) -> int:
    """0 for a province … 4 for a village: the more specific a region, the deeper."""
    return LEVELS.index(level_of(code))


RegionCode = Annotated[str, AfterValidator(validate)]
