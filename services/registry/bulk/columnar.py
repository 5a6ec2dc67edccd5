"""The columnar lane of an import: a CSV's clean households checked a column at a time (pyarrow, numpy), the rest
handed to the row-by-row checker (importer.Checker), which stays the one place that explains errors.

A household takes this lane only when nothing about it needs explaining: its 户编号 is a registry household number
of its village (<村代码><4-5 digits>), every row repeats the same household cells, every cell converts without
error (the same converters as the row checker: each distinct value of a column is converted once), its ID numbers
are exact (18 characters, upper-case, real birth date, right check character) and appear nowhere else in the file,
it has exactly one head and at most MAX_MEMBERS members, and its village is in the importer's region. Any doubt
sends the whole household (every row of its key) to the row checker, and a file the columnar reader cannot take as
it is (a malformed or ragged row, a long run of empty rows, too many rows or columns) is read row by row as
before: this lane changes how fast, never what an import does.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from services.registry.bulk import columns as col
from services.registry.bulk.columns import HOUSEHOLD_FIELDS, CellError
from services.registry.bulk.reader import (MAX_COLUMNS, MAX_DATA_ROWS, MAX_EMPTY_RUN, decode_csv, delimiter_of,
                                          find_header)
from services.registry.glossary import Relation
from services.registry.households.schemas import MAX_MEMBERS
from services.registry.households.scope import Scope

_WEIGHTS = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
HEADER_CHARS = 1 << 16            # the header is looked for in the first rows, as the row reader does
# text that ``col.plain`` returns as it is (up to MAX_TEXT characters): letters (Han included) and digits first and
# last, only those, spaces and ·()（）#- between
PLAIN_AS_WRITTEN = r"^[\p{Han}A-Za-z0-9](?:[\p{Han}A-Za-z0-9·()（）#\- ]*[\p{Han}A-Za-z0-9)）])?$"


@dataclass
class CsvColumns:
    """A CSV's data rows as string columns (empty rows dropped), with their row numbers as a spreadsheet shows them."""
    columns: dict[str, int]          # field → position in ``cells``
    cells: list[pa.Array]            # one string array per header column
    numbers: np.ndarray              # row number of each data row

    @property
    def total(self) -> int:
        return len(self.numbers)

    def rows(self, at: np.ndarray) -> list[tuple[int, list]]:
        """The rows at positions ``at`` as the row reader gives them: (number, cells)."""
        if not len(at):
            return []
        index = pa.array(at)
        columns = [c.take(index).to_pylist() for c in self.cells]
        return list(zip(self.numbers[at].tolist(), map(list, zip(*columns))))


def read_csv(content: bytes) -> CsvColumns | None:
    """The file's columns, or None when it must be read row by row (what the row reader then says, it says)."""
    try:
        return _read_csv(content)
    except Exception:   # noqa: BLE001 - any doubt: the row reader reads it, and rejects it with its message
        return None


def _read_csv(content: bytes) -> CsvColumns | None:
    if b"\x00" in content:
        return None
    try:                    # UTF-8 (the bytes go to pyarrow as they are, which checks the rest), else what the
        #                     row reader decodes
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(content[:4 * HEADER_CHARS])
        data = content[len(codecs.BOM_UTF8):] if content.startswith(codecs.BOM_UTF8) else content
    except UnicodeDecodeError:
        text = decode_csv(content)
        data = text.encode()
    delimiter = delimiter_of(text)
    reader = csv.reader(io.StringIO(text[:HEADER_CHARS], newline=""), delimiter=delimiter)
    found = find_header(((reader.line_num, cells) for cells in reader), "")
    if found is None:
        return None
    columns = found[0]
    header_line = reader.line_num
    at = -1
    for _ in range(header_line):
        at = data.find(b"\n", at + 1)
        if at < 0:
            return None
    header = data[data.rfind(b"\n", 0, at) + 1:at + 1].decode()
    width = len(next(csv.reader(io.StringIO(header, newline=""), delimiter=delimiter)))
    if width > MAX_COLUMNS:
        return None
    end = len(data)
    while end > at + 1 and data[end - 1] in b"\r\n":       # line breaks after the last row (a blank last line)
        end -= 1
    if end == at + 1:
        return None
    body = pa.py_buffer(data)[at + 1:end]
    names = [f"c{i}" for i in range(width)]
    table = pcsv.read_csv(
        pa.BufferReader(body),
        read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 22),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=False, ignore_empty_lines=False),
        convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                            strings_can_be_null=False, quoted_strings_can_be_null=False))
    lines = data.count(b"\n", at + 1, end) + 1
    if table.num_rows != lines or table.num_rows > MAX_DATA_ROWS + MAX_EMPTY_RUN:
        return None           # a line that is not one row (a quoted line break): the row reader's numbering
    cells = [table.column(i).combine_chunks() for i in range(width)]
    maybe = np.arange(table.num_rows)          # rows whose cells so far are all blank
    for c in cells:
        if not len(maybe):
            break
        rest = c if len(maybe) == len(c) else c.take(pa.array(maybe))
        maybe = maybe[pc.equal(pc.utf8_trim_whitespace(rest), "").to_numpy(zero_copy_only=False)]
    empty = np.zeros(table.num_rows, dtype=bool)
    empty[maybe] = True
    if empty.any():
        run = np.diff(np.flatnonzero(np.concatenate(([True], ~empty, [True]))))
        if run.max() - 1 >= MAX_EMPTY_RUN:
            return None       # the row reader ends the table there
    keep = np.flatnonzero(~empty)
    if len(keep) > MAX_DATA_ROWS or not len(keep):
        return None
    numbers = keep + header_line + 1
    if len(keep) < table.num_rows:
        index = pa.array(keep)
        cells = [c.take(index) for c in cells]
    return CsvColumns(columns=columns, cells=cells, numbers=numbers)


# --- checking ---------------------------------------------------------------------------------------------------

def _converted(array: pa.Array, convert: Callable[[Any], Any], *, kept: str | None = None,
               kept_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each cell converted by the row checker's converter, applied once per distinct value: (ok, values). Cells
    matching ``kept`` (a pattern of values the converter returns unchanged; of at most ``kept_length`` characters)
    are taken as they are."""
    if kept is not None:
        as_is = pc.match_substring_regex(array, kept).to_numpy(zero_copy_only=False)
        if kept_length is not None:
            as_is &= pc.less_equal(pc.utf8_length(array), kept_length).to_numpy(zero_copy_only=False)
        values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
        ok = np.ones(len(array), dtype=bool)
        rest = np.flatnonzero(~as_is)
        if len(rest):
            ok[rest], values[rest] = _converted(array.take(pa.array(rest)), convert)
        return ok, values
    encoded = array.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    values = np.empty(len(distinct), dtype=object)
    ok = np.ones(len(distinct), dtype=bool)
    for i, raw in enumerate(distinct):
        try:
            values[i] = convert(raw)
        except CellError:
            ok[i] = False
    index = encoded.indices.to_numpy()
    return ok[index], values[index]


def _exact_ids(ids: pa.Array) -> np.ndarray:
    """Which cells are an exact GB 11643 number (upper-case X, real birth date 1880..today): the row checker's fast
    path, a column at a time."""
    n = len(ids)
    ok = pc.equal(pc.binary_length(ids), 18).to_numpy(zero_copy_only=False)
    fixed = pc.if_else(pa.array(ok), ids, "000000188001010000").cast(pa.binary(18))
    m = np.frombuffer(fixed.buffers()[1], dtype=np.uint8, count=18 * n, offset=18 * fixed.offset).reshape(n, 18)
    d = m[:, :17].astype(np.int64) - 48
    ok &= ((d >= 0) & (d <= 9)).all(axis=1)
    d = np.where(ok[:, None], d, 0)
    ok &= _CHECK[(d * _WEIGHTS).sum(axis=1) % 11] == m[:, 17]
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


@dataclass
class Clean:
    """Households of the columnar lane, in order of first appearance, and their member rows (positions local to the
    rows the check was given)."""
    order: np.ndarray                # member row positions, grouped by household (file order within and across)
    starts: np.ndarray               # each household's first position in ``order`` (and len(order) at the end)
    group: np.ndarray                # each household's index into ``household``
    values: dict[str, np.ndarray]    # per row: the member fields, converted
    household: dict[str, np.ndarray]  # per household key of the rows: the household fields, converted
    numbers: np.ndarray              # per row: its row number

    @property
    def households(self) -> int:
        return len(self.group)


@dataclass
class Plan:
    """What takes the whole file: each row's household (numbered in order of first appearance) and whether its key
    and its person allow the lane (the key reads as it is written; the person appears once in the file)."""
    keys: np.ndarray                 # per row: the household key as the row checker reads it
    ok: np.ndarray                   # per row: key as written, person unique
    group: np.ndarray                # per row: its household
    by_household: np.ndarray         # row positions grouped by household, file order within
    starts: np.ndarray               # each household's first index in ``by_household`` (and the end)

    @property
    def households(self) -> int:
        return len(self.starts) - 1

    def rows(self, g0: int, g1: int) -> np.ndarray:
        """Positions of the rows of households [g0, g1), in file order."""
        return np.sort(self.by_household[self.starts[g0]:self.starts[g1]])

    def chunks(self, rows: int, *, first: int | None = None) -> list[tuple[int, int]]:
        """Household ranges [g0, g1) of about ``rows`` rows each (the first of about ``first``, so that writing
        starts soon): checked one after the other while the ones before are being written."""
        return _ranges(self.starts, rows, first=first)


def _ranges(starts: np.ndarray, rows: int, *, first: int | None = None) -> list[tuple[int, int]]:
    """Ranges [a, b) of the groups that ``starts`` bounds (``starts[-1]`` the end), of about ``rows`` rows each (the
    first of about ``first``), each at least one group."""
    groups = len(starts) - 1
    out = []
    a = 0
    while a < groups:
        size = first if first is not None and not out else rows
        b = int(np.searchsorted(starts, starts[a] + size, side="left"))
        b = min(max(b, a + 1), groups)
        out.append((a, b))
        a = b
    return out


def _absent(n: int) -> pa.Array:
    return pa.array([""] * n, type=pa.string())


def plan(data: CsvColumns) -> Plan:
    n = data.total
    cols = data.columns
    raw_key = data.cells[cols["household_no"]] if "household_no" in cols else _absent(n)
    read, keys = _converted(raw_key, lambda v: col.plain(v, "household_no"), kept=r"^[0-9]{16,17}$")
    raw_keys = raw_key.to_numpy(zero_copy_only=False)
    ok = read & (keys == raw_keys)   # a key the row checker changes is the row checker's to read
    # households are the keys as the row checker reads them (stripped), numbered by first appearance
    read_as = raw_key if ok.all() else pa.array(np.where(read, keys, raw_keys), type=pa.string())
    group = read_as.dictionary_encode().indices.to_numpy()
    households = int(group.max()) + 1
    firsts = np.full(households, n, dtype=np.int64)
    np.minimum.at(firsts, group, np.arange(n))
    appearance = np.empty(households, dtype=np.int64)
    appearance[np.argsort(firsts, kind="stable")] = np.arange(households)
    group = appearance[group]

    # a person listed twice (in any spelling the row checker reads as the same): both households go the row way
    ids = data.cells[cols["id_number"]] if "id_number" in cols else _absent(n)
    as_written = pc.match_substring_regex(ids, r"^[0-9]{17}[0-9X]$").to_numpy(zero_copy_only=False)
    same_source = ids
    if not as_written.all():
        normalized = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
        other = np.flatnonzero(~as_written)
        normalized[other] = [i.strip().upper() for i in normalized[other].tolist()]
        same_source = pa.array(normalized.tolist(), type=pa.string())
    same = same_source.dictionary_encode().indices.to_numpy()
    ok &= np.bincount(same)[same] == 1

    by_household = np.argsort(group, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(group, minlength=households))))
    return Plan(keys=keys, ok=ok, group=group, by_household=by_household, starts=starts)


def partition(data: CsvColumns, plan: Plan, g0: int, g1: int, *, villages: set[str], scope: Scope
              ) -> tuple[Clean, np.ndarray]:
    """Split the rows of households [g0, g1): the clean households, and the positions of every other row (for the
    row checker)."""
    at = plan.rows(g0, g1)
    n = len(at)
    index = pa.array(at)
    cols = data.columns

    def cells(key: str) -> pa.Array:
        return data.cells[cols[key]].take(index) if key in cols else _absent(n)

    group = plan.group[at] - g0
    households = g1 - g0
    firsts = np.searchsorted(at, plan.by_household[plan.starts[g0:g1]])    # each household's first row, here
    ok = plan.ok[at]

    values: dict[str, np.ndarray] = {}
    good, values["name"] = _converted(cells("name"), lambda v: col.plain(v, "name"), kept=PLAIN_AS_WRITTEN,
                                      kept_length=col.MAX_TEXT["name"])
    ok &= good
    member_convert = {
        "relation": lambda v: col.code(v, "relation"),
        "health": lambda v: col.code(v, "health"), "labor": lambda v: col.code(v, "labor"),
        "education": lambda v: col.code(v, "education", optional=True), "in_school": col.flag,
        "migrant_worker": col.flag}
    for key, convert in member_convert.items():
        good, values[key] = _converted(cells(key), convert)
        ok &= good
    ids = cells("id_number")
    ok &= _exact_ids(ids)
    values["id_number"] = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)

    # every row of a household repeats its household cells exactly; they are converted once, from its first row
    joined = pc.binary_join_element_wise(*(cells(k) for k in HOUSEHOLD_FIELDS), "\x1f")
    cells_id = joined.dictionary_encode().indices.to_numpy()
    ok &= cells_id == cells_id[firsts[group]]
    at_first = pa.array(firsts)
    household: dict[str, np.ndarray] = {"household_no": plan.keys[at[firsts]]}
    household_convert = {
        "village_code": lambda v: _village(v, villages, scope), "address": lambda v: col.plain(v, "address"),
        "phone": col.phone, "attribute": lambda v: col.code(v, "attribute"),
        "main_cause": lambda v: col.code(v, "cause"), "other_causes": col.causes, "identified_year": col.year}
    good_household = np.bincount(group, weights=~ok, minlength=households) == 0
    for key, convert in household_convert.items():
        kept = r"^1[3-9][0-9]{9}$" if key == "phone" else PLAIN_AS_WRITTEN if key == "address" else None
        good, household[key] = _converted(cells(key).take(at_first), convert, kept=kept,
                                          kept_length=col.MAX_TEXT.get(key))
        good_household &= good

    heads = np.bincount(group, weights=(values["relation"] == Relation.head.value), minlength=households)
    sizes = np.bincount(group, minlength=households)
    good_household &= (heads == 1) & (sizes <= MAX_MEMBERS)
    for h in np.flatnonzero(good_household).tolist():      # 户编号 must be the village's household number
        no, village = household["household_no"][h], household["village_code"][h]
        tail = no[len(village):]
        if not (no.startswith(village) and len(tail) in (4, 5) and tail.isdecimal()):
            good_household[h] = False
    clean_row = good_household[group]
    clean_at = np.flatnonzero(clean_row)
    # households in order of first appearance (their group order), members of each in file order
    order = clean_at[np.argsort(group[clean_at], kind="stable")]
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    starts = np.concatenate(([0], bounds, [len(order)])) if len(order) else np.zeros(1, dtype=np.int64)
    return (Clean(order=order, starts=starts, group=group[order[starts[:-1]]] if len(order) else order,
                  values=values, household=household, numbers=data.numbers[at]),
            at[~clean_row])


def _village(value: Any, villages: set[str], scope: Scope) -> str:
    code = col.village(value)
    if code not in villages or not scope.covers(code):
        raise CellError("not a village in the importer's region")
    return code


def slices(clean: Clean, rows: int) -> list[tuple[int, int]]:
    """Household ranges [a, b) of about ``rows`` member rows each."""
    return _ranges(clean.starts, rows)


def numbered_keys(data: CsvColumns) -> tuple[list[tuple[str, int]], list[str]]:
    """The distinct household keys: of those written as a number (16-17 digits), each village's highest as
    (village, number); the others as they are."""
    if "household_no" not in data.columns:
        return [], []
    distinct = pc.unique(data.cells[data.columns["household_no"]])
    digits = pc.match_substring_regex(distinct, r"^[0-9]{16,17}$")
    numbers = pc.filter(distinct, digits)
    table = pa.table({"village": pc.utf8_slice_codeunits(numbers, 0, 12),
                      "number": pc.cast(pc.utf8_slice_codeunits(numbers, 12, 17), pa.int64())})
    highest = table.group_by("village").aggregate([("number", "max")])
    return (list(zip(highest.column("village").to_pylist(), highest.column("number_max").to_pylist())),
            pc.filter(distinct, pc.invert(digits)).to_pylist())
