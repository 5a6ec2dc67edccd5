"""Reading an uploaded table (.xlsx or .csv) defensively: whatever arrives, the result is rows or a
:class:`FileRejected` with a message a county clerk can act on, within bounded time and memory.

- size: the caller caps the bytes (20 MB over HTTP); a data row cap (:data:`MAX_DATA_ROWS`) bounds the rest;
- .xlsx: a zip whose members' declared sizes (which bound what :mod:`zipfile` will inflate) and compression
  ratios are checked before any XML is parsed (zip bombs); each sheet is streamed by :mod:`xlsx` (lxml, a row at a
  time, the values openpyxl's read-only mode gives): a formula is never evaluated, only a value cached by the
  program that saved the file is seen (none for a file that was never calculated); the declared sheet dimension is
  ignored. python-calamine (0.9.1) reads fast too but holds a sheet as one dense grid up to its farthest cell: a
  5 KB file with one cell in XFD1048576 aborted the process, one cell in A1000000 cost 500 MB;
- .csv: UTF-8 (with or without BOM), else GB18030 (what Chinese Excel saves), else rejected; NUL bytes rejected;
- the header is the first row (within the first :data:`HEADER_SCAN` non-empty rows, so a title row above it is
  fine) naming the required §9 columns; unknown columns (e.g. 状态 in our own export) are ignored;
- empty rows are skipped; :data:`MAX_EMPTY_RUN` empty rows in a row end the table (a sheet padded with a
  million empty rows is read in milliseconds).
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from services.registry.bulk import columns as _columns
from services.registry.bulk import xlsx
from services.registry.bulk.columns import COLUMNS

MAX_DATA_ROWS = 500_000
MAX_EMPTY_RUN = 1_000
HEADER_SCAN = 10
MAX_COLUMNS = 64
MAX_SECONDS = 600                          # a worker is never held longer than this by one file
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024  # all members together, as declared
XLSX_MAX_RATIO = 200                       # per member above 1 MB; real sheets compress 5-30:1
XLSX_MAX_MEMBERS = 2_000
XLSX_MAX_SHARED_STRINGS = 96 * 1024 * 1024
EXPECTED = "、".join(c.label for c in COLUMNS)


@dataclass(frozen=True)
class Header:
    """What a table's header row must name: ``key`` maps a header cell to a field (or None), ``missing`` lists the
    labels of the required fields absent from a set of keys, ``expected`` is the column list shown in errors."""

    key: Callable[[Any], str | None]
    missing: Callable[[set[str]], list[str]]
    expected: str


HOUSEHOLDS = Header(key=_columns.header_key, missing=_columns.missing_required, expected=EXPECTED)


class FileRejected(Exception):
    """The file as a whole cannot be imported; ``str(exc)`` says why."""


@dataclass
class Table:
    sheet: str | None                 # None for CSV
    columns: dict[str, int]           # field → position in the row
    rows: Iterator[tuple[int, Sequence]]  # (row number as the spreadsheet shows it, cells: a tuple or a list)


def kind_of(filename: str, content: bytes) -> str:
    name = filename.lower()
    if name.endswith(".xlsx") or name.endswith(".xlsm"):
        return "xlsx"
    if name.endswith(".csv") or name.endswith(".txt"):
        return "csv"
    if content[:4] == b"PK\x03\x04":
        return "xlsx"
    raise FileRejected("only .xlsx and .csv files can be imported")


def tables(content: bytes, filename: str, *, deadline: float | None = None, header: Header = HOUSEHOLDS
           ) -> Iterator[Table]:
    """The importable tables of a file (one per sheet that has the header); raises FileRejected."""
    deadline = deadline or time.monotonic() + MAX_SECONDS
    if not content:
        raise FileRejected("the file is empty")
    if kind_of(filename, content) == "xlsx":
        yield from _xlsx_tables(content, deadline, header)
    else:
        yield from _csv_tables(content, deadline, header)


# --- common --------------------------------------------------------------------------------------------------

def _empty(cells: tuple) -> bool:
    if cells and type(first := cells[0]) is str and first and not first.isspace():
        return False
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def find_header(rows: Iterator[tuple[int, tuple]], where: str, header: Header = HOUSEHOLDS
                ) -> tuple[dict[str, int], bool] | None:
    """Scan the first non-empty rows for the header. None: no §9 column at all (not a data sheet)."""
    seen_any = False
    scanned = 0
    best: list[str] | None = None
    for _, cells in rows:
        if _empty(cells):
            continue
        scanned += 1
        columns: dict[str, int] = {}
        for i, cell in enumerate(cells[:MAX_COLUMNS]):
            key = header.key(cell)
            if key is not None and key not in columns:
                columns[key] = i
        if columns:
            seen_any = True
            missing = header.missing(set(columns))
            if not missing:
                return columns, True
            if best is None or len(missing) < len(best):
                best = missing
        if scanned >= HEADER_SCAN:
            break
    if not seen_any:
        return None
    raise FileRejected(f"wrong columns{where}: missing {'、'.join(best or [])}. The columns are: {header.expected}")


def _data_rows(rows: Iterator[tuple[int, tuple]], deadline: float, counter: list[int]) -> Iterator[tuple[int, tuple]]:
    empty_run = 0
    for number, cells in rows:
        if (not cells or type(first := cells[0]) is not str or not first or first.isspace()) and _empty(cells):
            empty_run += 1
            if empty_run >= MAX_EMPTY_RUN:
                return
            continue
        empty_run = 0
        counter[0] += 1
        if counter[0] > MAX_DATA_ROWS:
            raise FileRejected(f"more than {MAX_DATA_ROWS:,} data rows: split the file")
        if counter[0] % 4096 == 0 and time.monotonic() > deadline:
            raise FileRejected("the file took too long to read")
        yield number, cells


# --- CSV -----------------------------------------------------------------------------------------------------

def decode_csv(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise FileRejected("the CSV file is neither UTF-8 nor GB18030 (GBK) text")
    if "\x00" in text:
        raise FileRejected("the CSV file contains NUL bytes: it is not a text table")
    return text


def delimiter_of(text: str) -> str:
    """Tab when the first line has tabs and no commas (a sheet pasted into a text file), else comma."""
    first = text[:4096].split("\n", 1)[0]
    return "\t" if "\t" in first and "," not in first and "，" not in first else ","


def _csv_tables(content: bytes, deadline: float, spec: Header) -> Iterator[Table]:
    text = decode_csv(content)
    delimiter = delimiter_of(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list]]:
        try:
            for cells in reader:     # the reader's lists as they are (no copy) unless too wide
                yield reader.line_num, cells if len(cells) <= MAX_COLUMNS else cells[:MAX_COLUMNS]
        except csv.Error as exc:
            raise FileRejected(f"malformed CSV near line {reader.line_num}: {exc}") from None

    def data_rows() -> Iterator[tuple[int, list]]:
        """Below the header: ``_data_rows`` in one generator (the common case: each row's first cell not blank)."""
        empty_run = count = 0
        try:
            for cells in reader:
                if len(cells) > MAX_COLUMNS:
                    cells = cells[:MAX_COLUMNS]
                if (not cells or type(first := cells[0]) is not str or not first or first.isspace()) and _empty(cells):
                    empty_run += 1
                    if empty_run >= MAX_EMPTY_RUN:
                        return
                    continue
                empty_run = 0
                count += 1
                if count > MAX_DATA_ROWS:
                    raise FileRejected(f"more than {MAX_DATA_ROWS:,} data rows: split the file")
                if count % 4096 == 0 and time.monotonic() > deadline:
                    raise FileRejected("the file took too long to read")
                yield reader.line_num, cells
        except csv.Error as exc:
            raise FileRejected(f"malformed CSV near line {reader.line_num}: {exc}") from None

    header = find_header(rows(), "", spec)      # the reader goes on from the row after the header
    if header is None:
        raise FileRejected(f"wrong columns: no header row with the import columns. The columns are: "
                           f"{spec.expected}")
    yield Table(sheet=None, columns=header[0], rows=data_rows())


# --- XLSX ----------------------------------------------------------------------------------------------------

def check_zip(content: bytes) -> None:
    """Refuse zip bombs and non-zips before any XML is parsed."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FileRejected("not a valid .xlsx file (it is not a zip archive)") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > XLSX_MAX_MEMBERS:
            raise FileRejected("the .xlsx file has too many parts")
        total = 0
        names = set()
        for info in infos:
            names.add(info.filename)
            total += info.file_size
            if info.file_size > 1024 * 1024 and info.file_size > XLSX_MAX_RATIO * max(info.compress_size, 1):
                ratio = info.file_size // max(info.compress_size, 1)
                raise FileRejected(f"the .xlsx part {info.filename[:60]} expands {ratio} times: refused as a "
                                   "possible zip bomb")
            if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > XLSX_MAX_SHARED_STRINGS:
                raise FileRejected("the .xlsx file's text table is too large")
            if info.flag_bits & 0x1:
                raise FileRejected("the .xlsx file is encrypted (password protected): save it without a password")
        if total > XLSX_MAX_UNCOMPRESSED:
            raise FileRejected(f"the .xlsx file expands to more than {XLSX_MAX_UNCOMPRESSED // 2**20} MB: refused")
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/worksheets/") for n in names):
            raise FileRejected("not a valid .xlsx file (no worksheets)")


def _xlsx_tables(content: bytes, deadline: float, spec: Header) -> Iterator[Table]:
    check_zip(content)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        workbook = xlsx.Workbook(archive)
    except FileRejected:
        raise
    except Exception as exc:   # noqa: BLE001 - any parse failure of a hostile file is the file's problem
        raise FileRejected(f"not a readable .xlsx file ({type(exc).__name__})") from None
    found = False
    counter = [0]
    with archive:
        for title, path in workbook.sheets:
            source = _sheet_rows(workbook, title, path)
            header = find_header(source, f" in sheet {title!r}", spec)
            if header is None:
                continue
            found = True
            yield Table(sheet=title, columns=header[0], rows=_data_rows(source, deadline, counter))
    if not found:
        raise FileRejected(f"wrong columns: no sheet has a header row with the import columns. The columns are: "
                           f"{spec.expected}")


def _sheet_rows(workbook: xlsx.Workbook, title: str, path: str) -> Iterator[tuple[int, tuple]]:
    try:
        yield from workbook.rows(path, MAX_COLUMNS)
    except FileRejected:
        raise
    except Exception as exc:   # noqa: BLE001 - malformed XML, bad shared string index, …
        raise FileRejected(f"the .xlsx sheet {title!r} cannot be read ({type(exc).__name__})") from None
