"""A table read a column at a time, for the column lane (columnar.py): a CSV straight from its bytes (pyarrow), a
single .xlsx sheet from the rows its reader gave. Cells are text as the CSV has them: an .xlsx cell that is not
text (a number, a date, a boolean) keeps its row for the row checker, except whole numbers outside the ID column,
which every converter reads as their digits.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from services.registry.bulk.checker import RawTable
from services.registry.bulk.reader import (MAX_COLUMNS, MAX_DATA_ROWS, MAX_EMPTY_RUN, decode_csv, delimiter_of,
                                          find_header)

HEADER_CHARS = 1 << 16            # the header is looked for in the first rows, as the row reader does


@dataclass
class Columns:
    """A table's data rows as string columns (empty rows dropped), with their row numbers as a spreadsheet shows them."""
    columns: dict[str, int]          # field → position in ``cells``
    cells: list[pa.Array]            # one string array per column
    numbers: np.ndarray              # row number of each data row
    table: RawTable | None = None    # the rows as read, when they are not text (an .xlsx sheet)
    text: np.ndarray | None = None   # per row: every cell is text as written (else the row checker reads it)

    @property
    def total(self) -> int:
        return len(self.numbers)

    @property
    def sheet(self) -> str | None:
        return self.table.sheet if self.table is not None else None

    def rest(self, at: np.ndarray) -> RawTable:
        """The rows at positions ``at`` for the row checker, as the row reader gives them."""
        if self.table is not None:
            rows = self.table.rows
            return RawTable(self.table.sheet, self.table.columns, [rows[i] for i in at.tolist()])
        if not len(at):
            return RawTable(None, self.columns, [])
        index = pa.array(at)
        columns = [c.take(index).to_pylist() for c in self.cells]
        return RawTable(None, self.columns, list(zip(self.numbers[at].tolist(), map(list, zip(*columns)))))


def from_table(table: RawTable) -> Columns | None:
    """A table the row reader read (an .xlsx sheet), a column at a time; None when it has no rows."""
    rows = table.rows
    n = len(rows)
    if not n:
        return None
    text = np.ones(n, dtype=bool)
    cells = []
    fields = sorted(table.columns, key=table.columns.get)
    width = max(table.columns.values()) + 1
    short = (None,) * width
    # one transposition at C speed (rows shorter than the columns read padded with blanks)
    by_column = list(zip(*(c if len(c) >= width else (*c, *short[len(c):]) for _, c in rows)))
    for key in fields:
        values = by_column[table.columns[key]]
        if set(map(type, values)) != {str}:
            values = list(values)
            whole = key != "id_number"        # the ID rule tells a number from its digits
            for i, v in enumerate(values):
                kind = type(v)
                if kind is not str:
                    if v is None:
                        values[i] = ""
                    elif kind is int and whole:
                        values[i] = str(v)
                    else:
                        values[i] = ""
                        text[i] = False
        cells.append(pa.array(values, type=pa.string()))
    return Columns(columns={k: i for i, k in enumerate(fields)}, cells=cells,
                   numbers=np.fromiter((number for number, _ in rows), dtype=np.int64, count=n), table=table, text=text)


def read_csv(content: bytes) -> Columns | None:
    """The file's columns, or None when it must be read row by row (what the row reader then says, it says)."""
    try:
        return _read_csv(content)
    except Exception:   # noqa: BLE001 - any doubt: the row reader reads it, and rejects it with its message
        return None


def _read_csv(content: bytes) -> Columns | None:
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
    return Columns(columns=columns, cells=cells, numbers=numbers)

