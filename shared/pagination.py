"""Cursor pagination: ``?limit=&cursor=`` answering ``{items, next_cursor}``."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.problems import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


INT64_MAX = 2**63 - 1


def _field(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` if it is what :func:`encode_cursor` writes for such a field, else ValueError."""
    if kind is int and type(value) is int and 0 <= value <= INT64_MAX:
        return value
    if kind is str and type(value) is str and len(value) <= 256 and "\x00" not in value:
        return value
    if kind is datetime and type(value) is str and len(value) <= 40:
        at = datetime.fromisoformat(value)
        if at.tzinfo is not None:
            return at
    if kind is uuid.UUID and type(value) is str and len(value) <= 36:
        return uuid.UUID(value)
    raise ValueError(f"not a cursor {kind.__name__}")


def decode_cursor(cursor: str | None, *, partial: bool = False, **shape: type) -> dict[str, Any] | None:
    """The key inside a cursor from :func:`encode_cursor`, each field as the type ``shape`` gives it (int, str,
    datetime, UUID); None without a cursor. Anything else, however it was made, is a 400 problem and never reaches
    a query. ``partial``: fields may be missing (a cursor over several chains)."""
    if not shape:
        raise TypeError("decode_cursor needs the shape of the key its list issues")
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        if not isinstance(key, dict) or not set(key) <= set(shape) or (not partial and set(key) != set(shape)):
            raise ValueError("not this list's cursor")
        return {k: _field(v, shape[k]) for k, v in key.items()}
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("cursor is not one this API issued") from None


def page(rows: list[Any], limit: int, key_of) -> tuple[list[Any], str | None]:
    """Given ``limit + 1`` fetched rows, return the page and the cursor for the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key_of(rows[-1]))
    return rows, None
