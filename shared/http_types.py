"""Field and parameter types every service uses: bounded text, ids, limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StringConstraints

INT64_MAX = 2**63 - 1


def _no_control(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


def text(max_length: int, *, min_length: int = 0):
    """A stripped string of bounded length without NUL characters."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     AfterValidator(_no_control)]


Name = text(64, min_length=1)
ShortText = text(200)
LongText = text(2000)
Phone = Annotated[str, StringConstraints(pattern=r"^1[3-9]\d{9}$")]

IdPath = Annotated[int, Path(ge=1, le=INT64_MAX)]
Limit = Annotated[int, Query(ge=1, le=500)]
Year = Annotated[int, Field(ge=2000, le=2100)]
