"""GB 11643-1999 resident ID numbers (18 characters, ISO 7064 MOD 11-2 check)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_char(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def _chunk_table(start: int, width: int) -> dict[str, int]:
    """Weighted digit sums of every ``width``-digit string at ``start`` (the check sum in six look-ups)."""
    return {f"{n:0{width}d}": sum(int(d) * w for d, w in zip(f"{n:0{width}d}", _WEIGHTS[start:start + width],
                                                            strict=True)) for n in range(10 ** width)}


_T0, _T1, _T2, _T3, _T4, _T5 = (_chunk_table(0, 3), _chunk_table(3, 3), _chunk_table(6, 3), _chunk_table(9, 3),
                                _chunk_table(12, 3), _chunk_table(15, 2))
_BORN: dict[str, date | None] = {}


def born(id_number: str) -> date | None:
    """The birth date of an 18-character ID number if it is a real one (1880 to today), else None (remembered)."""
    key = id_number[6:14]
    if key in _BORN:
        return _BORN[key]
    try:
        day: date | None = date(int(key[:4]), int(key[4:6]), int(key[6:]))
        if day.year < 1880 or day > date.today():
            day = None
    except ValueError:
        day = None
    if len(_BORN) < 100_000:
        _BORN[key] = day
    return day


def normalize(raw: str) -> str:
    """Return the upper-case ID number or raise ValueError naming what is wrong."""
    if not isinstance(raw, str):
        raise ValueError("ID number must be a string")
    s = raw.strip().upper()
    try:                        # a good number: six look-ups and a remembered birth date
        if (len(s) == 18 and _CHECK[(_T0[s[:3]] + _T1[s[3:6]] + _T2[s[6:9]] + _T3[s[9:12]] + _T4[s[12:15]]
                                     + _T5[s[15:17]]) % 11] == s[17] and born(s) is not None):
            return s
    except KeyError:            # not digits: the careful path says what is wrong
        pass
    if len(s) != 18:
        raise ValueError("ID number must have 18 characters")
    if not s[:17].isascii() or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        raise ValueError("ID number must be 17 digits and a digit or X")
    if born(s) is None:
        raise ValueError("ID number has no real birth date")
    if check_char(s[:17]) != s[17]:
        raise ValueError("ID number check character is wrong")
    return s

def exact_column(ids: Any) -> Any:
    """For each string of an Arrow array, whether it is an ID number exactly as :func:`normalize` returns it (so
    ``normalize(s) == s``), as a numpy bool array: the import's column lane checks a column at once."""
    import numpy as np                      # only the import needs them: not loaded by every service
    import pyarrow as pa
    import pyarrow.compute as pc

    weights = np.array(_WEIGHTS, dtype=np.int64)
    check = np.frombuffer(_CHECK.encode(), dtype=np.uint8)
    n = len(ids)
    ok = pc.equal(pc.binary_length(ids), 18).to_numpy(zero_copy_only=False)
    fixed = pc.if_else(pa.array(ok), ids, "000000188001010000").cast(pa.binary(18))
    m = np.frombuffer(fixed.buffers()[1], dtype=np.uint8, count=18 * n, offset=18 * fixed.offset).reshape(n, 18)
    d = m[:, :17].astype(np.int64) - 48
    ok &= ((d >= 0) & (d <= 9)).all(axis=1)
    d = np.where(ok[:, None], d, 0)
    ok &= check[(d * weights).sum(axis=1) % 11] == m[:, 17]
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    month = d[:, 10] * 10 + d[:, 11]
    day = d[:, 12] * 10 + d[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array((0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31))[np.clip(month, 0, 12)]
    month_days = month_days + ((month == 2) & leap)
    today = date.today()
    ymd = year * 10000 + month * 100 + day
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days) & (year >= 1880)
    ok &= ymd <= today.year * 10000 + today.month * 100 + today.day
    return ok


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
