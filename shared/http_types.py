"""Field and parameter types every service uses: bounded text, ids, limits."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StringConstraints

INT64_MAX = 2**63 - 1
# the largest integer a JSON body may carry (I-JSON, RFC 7493): beyond it numbers lose precision in the app's
# JavaScript, and RFC 8785 (which the Idempotency-Key hash uses) refuses them
JSON_INT_MAX = 2**53 - 1


# bidi embeddings, overrides and isolates: they make a name read differently from what it holds
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable free text, or None: the one rule for the API and the imports alike.

    No control characters (tab and line breaks only where the text may span lines), no lone surrogates, no bidi
    overrides, and text that is not empty holds something visible.
    """
    visible = False
    for ch in value:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            if not (multiline and ch in "\t\n\r"):
                return "contains control characters"
        elif cat == "Cs":
            return "contains an unpaired surrogate"
        elif ch in _BIDI:
            return "contains bidirectional override characters"
        elif not visible and cat not in ("Cf", "Zs", "Zl", "Zp", "Mn", "Me"):
            visible = True
    if value and not visible:
        return "holds only invisible characters"
    return None


def _checked(multiline: bool):
    def check(value: str) -> str:
        if (reason := text_problem(value, multiline=multiline)) is not None:
            raise ValueError(f"text {reason}")
        return value
    return check


def text(max_length: int, *, min_length: int = 0, multiline: bool = False):
    """A stripped string of bounded length that passes ``text_problem``."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     AfterValidator(_checked(multiline))]


Name = text(64, min_length=1)
ShortText = text(200)
LongText = text(2000, multiline=True)
Phone = Annotated[str, StringConstraints(pattern=r"^1[3-9]\d{9}$")]

IdPath = Annotated[int, Path(ge=1, le=INT64_MAX)]
Id = Annotated[int, Field(ge=1, le=JSON_INT_MAX)]       # an id in a JSON body
Limit = Annotated[int, Query(ge=1, le=500)]
Year = Annotated[int, Field(ge=2000, le=2100)]
