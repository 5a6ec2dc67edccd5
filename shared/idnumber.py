"""GB 11643-1999 resident ID numbers (18 characters, ISO 7064 MOD 11-2 check)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_char(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def normalize(raw: str) -> str:
    """Return the upper-case ID number or raise ValueError naming what is wrong."""
    if not isinstance(raw, str):
        raise ValueError("ID number must be a string")
    s = raw.strip().upper()
    if len(s) != 18:
        raise ValueError("ID number must have 18 characters")
    if not s[:17].isascii() or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        raise ValueError("ID number must be 17 digits and a digit or X")
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        raise ValueError("ID number has no real birth date") from None
    if born.year < 1880 or born > date.today():
        raise ValueError("ID number has no real birth date")
    if check_char(s[:17]) != s[17]:
        raise ValueError("ID number check character is wrong")
    return s


def birth_date(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def sex(id_number: str) -> str:
    """``male`` or ``female`` from the sequence digit (odd: male)."""
    return "male" if int(id_number[16]) % 2 else "female"


def mask(id_number: str | None) -> str | None:
    """640122********123X: region kept, birth date hidden."""
    if not id_number:
        return id_number
    if len(id_number) < 15:      # not an ID number we issued: reveal nothing useful
        return "*" * max(len(id_number) - 2, 1) + id_number[-2:] if len(id_number) > 4 else "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    if len(phone) >= 11:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * max(len(phone) - 2, 1) + phone[-2:] if len(phone) > 4 else "*" * len(phone)


def make(region6: str, born: date, seq: int) -> str:
    """Build a valid ID number (demo data and tests)."""
    first17 = f"{region6}{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_char(first17)


IdNumber = Annotated[str, BeforeValidator(lambda v: v if isinstance(v, str) else str(v)),
                     AfterValidator(normalize)]
