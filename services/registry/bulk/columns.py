"""The import columns (CONTRACT §9) and how each cell is read: a Chinese label or a code, Excel numbers as text.

Each converter takes the raw cell (``str``, ``int``, ``float``, ``bool``, ``datetime`` or ``None``) and returns
the value or raises :class:`CellError` with a message for the row's error list. Blank cells are ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.registry import glossary as g
from shared import idnumber, regions
from shared.http_types import text_problem


class CellError(ValueError):
    """A cell that cannot be used; the message goes into the row's error."""


@dataclass(frozen=True)
class Column:
    key: str          # the field name (also accepted as a header)
    label: str        # the §9 header
    required: bool    # the header must be present


COLUMNS = (
    Column("household_no", "户编号", True),
    Column("village_code", "村代码", True),
    Column("address", "地址", True),
    Column("phone", "联系电话", False),
    Column("attribute", "贫困户属性", True),
    Column("main_cause", "主要致贫原因", True),
    Column("other_causes", "其他致贫原因", False),
    Column("identified_year", "识别年度", True),
    Column("name", "姓名", True),
    Column("id_number", "身份证号", True),
    Column("relation", "与户主关系", True),
    Column("health", "健康状况", True),
    Column("labor", "劳动能力", True),
    Column("education", "文化程度", False),
    Column("in_school", "在校生", False),
    Column("migrant_worker", "务工", False),
)
LABEL = {c.key: c.label for c in COLUMNS}
_HEADER_ALIASES = {**{c.label: c.key for c in COLUMNS}, **{c.key: c.key for c in COLUMNS}}
_HEADER_NOISE = re.compile(r"[\s*＊:：]|（.*?）|\(.*?\)")


def header_key(cell: Any) -> str | None:
    """The field a header cell names (``身份证号``, ``*身份证号``, ``身份证号（18位）``, ``id_number``), else None."""
    if not isinstance(cell, str):
        return None
    return _HEADER_ALIASES.get(_HEADER_NOISE.sub("", cell).lower() if cell.isascii() else _HEADER_NOISE.sub("", cell))


def missing_required(keys: set[str]) -> list[str]:
    return [c.label for c in COLUMNS if c.required and c.key not in keys]


# --- cells -----------------------------------------------------------------------------------------------------

MAX_TEXT = {"household_no": 64, "address": 200, "name": 64}
_FORMULA_START = ("=", "+", "@")
_LIST_SPLIT = re.compile(r"[、,，;；/\s]+")
_TRUE = {"是", "有", "y", "yes", "true", "1", "√", "✓"}
_FALSE = {"否", "无", "n", "no", "false", "0", "×"}
# exact cell text → code, for the common case (a label or a code as is); anything else takes the slow path
EXACT = {kind: {**{c: c for c in labels}, **{label: c for c, label in labels.items()}}
          for kind, labels in g.ALL_LABELS.items()}
FLAGS = {**{v: True for v in _TRUE}, **{v: False for v in _FALSE}, "": False}


def text(value: Any) -> str | None:
    """A cell as stripped text (Excel integers without ``.0``); None when blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CellError("not a number")
        value = int(value) if value.is_integer() and abs(value) < 1e15 else value
    if isinstance(value, (datetime, date)):
        raise CellError("a date where text was expected")
    s = str(value).strip()
    return s or None


def plain(value: Any, key: str) -> str:
    """Free text (name, address, household number): bounded, printable, and never formula-like."""
    s = value.strip() if type(value) is str else text(value)
    if not s:
        raise CellError("is empty")
    if len(s) > MAX_TEXT[key]:
        raise CellError(f"longer than {MAX_TEXT[key]} characters")
    if s[0] in "=+@-" and (s[0] != "-" or (len(s) > 1 and not s[1:].replace(".", "").isdigit())):
        raise CellError("looks like a spreadsheet formula; not accepted")
    if (reason := text_problem(s)) is not None:      # the API's rule for text, word for word
        raise CellError(reason)
    return s


def code(value: Any, kind: str, *, optional: bool = False) -> str | None:
    if type(value) is str and (hit := EXACT[kind].get(value)) is not None:
        return hit
    s = text(value)
    if s is None:
        if optional:
            return None
        raise CellError("is empty")
    found = g.code_for(kind, s) or g.code_for(kind, s.lower())
    if found is None:
        labels = g.ALL_LABELS[kind]
        raise CellError(f"unknown value {s[:20]!r}; use one of " + "、".join(labels.values()) + " (or the codes "
                        + ", ".join(labels) + ")")
    return found


_CAUSES: dict[str, list[str]] = {}
_YEARS: dict[Any, int] = {}


def causes(value: Any) -> list[str]:
    if type(value) is str and (hit := _CAUSES.get(value)) is not None:
        return list(hit)
    found = _causes(value)
    if type(value) is str and len(_CAUSES) < 10_000:
        _CAUSES[value] = found
    return list(found)


def _causes(value: Any) -> list[str]:
    s = text(value)
    if s is None:
        return []
    out: list[str] = []
    for part in _LIST_SPLIT.split(s):
        if part:
            c = code(part, "cause")
            if c not in out:
                out.append(c)
    return out


def year(value: Any) -> int:
    if type(value) in (str, int) and (hit := _YEARS.get(value)) is not None:
        return hit
    found = _year(value)
    if type(value) in (str, int) and len(_YEARS) < 10_000:
        _YEARS[value] = found
    return found


def _year(value: Any) -> int:
    if isinstance(value, (datetime, date)):
        return value.year
    s = text(value)
    if s is None:
        raise CellError("is empty")
    s = s.removesuffix("年")
    if not s.isascii() or not s.isdigit() or not 2000 <= int(s) <= 2100:
        raise CellError(f"{s[:20]!r} is not a year between 2000 and 2100")
    return int(s)


_VILLAGES: dict[str, str] = {}


def village(value: Any) -> str:
    if type(value) is str and (hit := _VILLAGES.get(value)) is not None:
        return hit
    s = text(value)
    if s is None:
        raise CellError("is empty")
    try:
        regions.validate(s)
    except ValueError:
        raise CellError(f"{s[:20]!r} is not a 12-digit village code") from None
    if regions.level_of(s) != "village":
        raise CellError(f"{s} is not a village code")
    if type(value) is str and len(_VILLAGES) < 100_000:
        _VILLAGES[value] = s
    return s


_MOBILE = re.compile(r"1[3-9]\d{9}")


def phone(value: Any) -> str | None:
    s = text(value)
    if s is None:
        return None
    s = s.replace("-", "").replace(" ", "")
    if not _MOBILE.fullmatch(s):
        raise CellError(f"{s[:20]!r} is not an 11-digit mobile number")
    return s


def id_number(value: Any) -> str:
    """The normalized ID number (shared.idnumber.normalize); a number stored as a number has lost digits."""
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and value > 10**15):
        raise CellError("stored as a number, which loses digits: format the column as text")
    s = value if type(value) is str else text(value)
    if not s or not s.strip():
        raise CellError("is empty")
    try:
        return idnumber.normalize(s)
    except ValueError as exc:
        raise CellError(str(exc)) from None


def flag(value: Any) -> bool:
    if type(value) is str and (hit := FLAGS.get(value)) is not None:
        return hit
    if isinstance(value, bool):
        return value
    s = text(value)
    if s is None:
        return False
    s = s.lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise CellError(f"{s[:20]!r} is not 是 or 否")


# --- the rule table: how each cell of an import is read, by the row checker and the column lane alike -----------

@dataclass(frozen=True)
class Rule:
    key: str
    convert: Callable[[Any], Any]
    # a pattern of cells that ``convert`` returns unchanged (up to MAX_TEXT characters): the column lane takes
    # them as written, without a call each
    as_written: str | None = None


# text ``plain`` returns as it is: letters (Han included) and digits first and last, only those, spaces and
# ·()（）#- between
PLAIN_AS_WRITTEN = r"^[\p{Han}A-Za-z0-9](?:[\p{Han}A-Za-z0-9·()（）#\- ]*[\p{Han}A-Za-z0-9)）])?$"
MEMBER_RULES = (
    Rule("name", lambda v: plain(v, "name"), PLAIN_AS_WRITTEN),
    Rule("id_number", id_number),
    Rule("relation", lambda v: code(v, "relation")),
    Rule("health", lambda v: code(v, "health")),
    Rule("labor", lambda v: code(v, "labor")),
    Rule("education", lambda v: code(v, "education", optional=True)),
    Rule("in_school", flag),
    Rule("migrant_worker", flag),
)
HOUSEHOLD_RULES = (
    Rule("village_code", village),
    Rule("address", lambda v: plain(v, "address"), PLAIN_AS_WRITTEN),
    Rule("phone", phone, r"^1[3-9][0-9]{9}$"),
    Rule("attribute", lambda v: code(v, "attribute")),
    Rule("main_cause", lambda v: code(v, "cause")),
    Rule("other_causes", causes),
    Rule("identified_year", year),
)
HOUSEHOLD_FIELDS = tuple(r.key for r in HOUSEHOLD_RULES)
REQUIRED_HOUSEHOLD = ("village_code", "address", "attribute", "main_cause", "identified_year")


def numbered(key: str, village: str) -> bool:
    """Whether a 户编号 is a household number of its village (<村代码><4-5 digits>): it then becomes the number."""
    tail = key[len(village):]
    return key.startswith(village) and len(tail) in (4, 5) and tail.isdecimal()     # isdecimal: what \d matches
