"""The screening file's columns (CONTRACT §11: 身份证号, 来源部门, 类型, 金额, 发生日期), their codes and Chinese
labels, and how each cell is read (a label or a code; Excel numbers and dates as they come)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.registry.bulk import columns as col
from services.registry.bulk.columns import CellError
from services.registry.bulk.reader import Header
from shared.money import parse_money, to_fen

# 来源部门
DEPARTMENT_LABELS = {"medical_insurance": "医保", "civil_affairs": "民政", "disabled_persons": "残联",
                     "emergency": "应急", "education": "教育"}
_DEPARTMENT_ALIASES = {"医保局": "medical_insurance", "医疗保障局": "medical_insurance", "民政局": "civil_affairs",
                       "残疾人联合会": "disabled_persons", "应急管理局": "emergency", "应急局": "emergency",
                       "教育局": "education", "教体局": "education"}
# 类型: what the department reports (an amount in yuan; 0 or blank where there is none, e.g. a 残疾 certificate)
KIND_LABELS = {"self_paid_medical": "自付医疗费用", "dibao": "低保", "temporary_assistance": "临时救助",
               "disability": "残疾", "disaster_loss": "灾害损失", "education_cost": "教育支出"}
_KIND_ALIASES = {"医疗自付": "self_paid_medical", "自付医疗": "self_paid_medical", "个人自付医疗费用": "self_paid_medical",
                 "低保金": "dibao", "灾害": "disaster_loss", "受灾损失": "disaster_loss", "教育费用": "education_cost"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str


COLUMNS = (Column("id_number", "身份证号"), Column("department", "来源部门"), Column("kind", "类型"),
           Column("amount", "金额"), Column("occurred_on", "发生日期"))
LABEL = {c.key: c.label for c in COLUMNS}
_ALIASES = {**{c.label: c.key for c in COLUMNS}, **{c.key: c.key for c in COLUMNS}}
_NOISE = re.compile(r"[\s*＊:：]|（.*?）|\(.*?\)")


def header_key(cell: Any) -> str | None:
    if not isinstance(cell, str):
        return None
    return _ALIASES.get(_NOISE.sub("", cell).lower() if cell.isascii() else _NOISE.sub("", cell))


def missing(keys: set[str]) -> list[str]:
    return [c.label for c in COLUMNS if c.key not in keys]


HEADER = Header(key=header_key, missing=missing, expected="、".join(c.label for c in COLUMNS))


def _coded(value: Any, labels: dict[str, str], aliases: dict[str, str]) -> str:
    s = col.text(value)
    if s is None:
        raise CellError("is empty")
    if s in labels:
        return s
    for code, label in labels.items():
        if label == s:
            return code
    if (hit := aliases.get(s)) is not None:
        return hit
    raise CellError(f"unknown value {s[:20]!r}; use one of " + "、".join(labels.values()))


def department(value: Any) -> str:
    return _coded(value, DEPARTMENT_LABELS, _DEPARTMENT_ALIASES)


def kind(value: Any) -> str:
    return _coded(value, KIND_LABELS, _KIND_ALIASES)


def amount_fen(value: Any) -> int:
    """Yuan with at most two decimals, not negative (blank: 0)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        value = value.strip().replace(",", "").replace("，", "").removesuffix("元")
    try:
        return to_fen(parse_money(value if not isinstance(value, Decimal) else str(value)))
    except ValueError as exc:
        raise CellError(str(exc)) from None


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
EARLIEST = date(2000, 1, 1)


def occurred_on(value: Any) -> date:
    """A date cell, or text ``2024-03-05``, ``2024/3/5``, ``2024年3月5日``, ``20240305``."""
    if isinstance(value, datetime):
        d = value.date()
    elif isinstance(value, date):
        d = value
    else:
        s = col.text(value)
        if s is None:
            raise CellError("is empty")
        if len(s) == 8 and s.isdigit():
            s = f"{s[:4]}-{s[4:6]}-{s[6:]}"
        m = _DATE.match(s)
        if m is None:
            raise CellError("not a date; write it as 2024-03-05")
        try:
            d = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise CellError("not a real date") from None
    if d < EARLIEST or d > date.today():
        raise CellError(f"a date from {EARLIEST.isoformat()} to today")
    return d


CONVERT = {"id_number": col.id_number, "department": department, "kind": kind, "amount": amount_fen,
           "occurred_on": occurred_on}
