"""A streaming reader of .xlsx sheets: the cell values openpyxl's read-only mode gives (``values_only``), at C speed.

openpyxl builds a Python cell object per cell and converts it in Python; a county's member list of 36,000 rows
reads at about 6,000 rows/s that way. This reader feeds each sheet's XML to lxml 64 KB at a time (entities never
resolved, no network), reads the rows each chunk completes and drops them; a row still open has its complete cells
read and dropped, so memory holds about one chunk's elements however long a row is, and cells beyond ``max_col`` are
skipped: a hostile sheet with a million columns or a cell in XFD1048576 costs what its bytes cost. Values are as
openpyxl gives them: shared and inline strings (rich text joined, phonetic runs left out), numbers as int or float,
numbers in a date format as datetime (the workbook's 1900 or 1904 epoch), booleans, ISO dates, cached formula
results, error codes as text. Rows come numbered from 1 with every row in between (empty ones as all None), each
``max_col`` cells long. The caller checks the zip first (``reader.check_zip``); any malformed part raises, and the
caller says so."""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel, from_ISO8601

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
WORKSHEET = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
ROW, CELL, VALUE, INLINE, TEXT, PHONETIC = (MAIN + t for t in ("row", "c", "v", "is", "t", "rPh"))
SHEET_DATA, SST, SI = MAIN + "sheetData", MAIN + "sst", MAIN + "si"
CHUNK = 1 << 16                     # bytes of XML parsed at a time
MARK = b"<?jz-stream?>"             # see _chunks
_ELEMENT = etree._Element           # not a comment, processing instruction or entity


def _parse(part: IO[bytes]) -> etree._ElementTree:
    return etree.parse(part, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))


def _chunks(part: IO[bytes], tag: str) -> Iterator[tuple[Any, bool]]:
    """Parses a part a chunk at a time, yielding after each (the element ``tag``, the root or its first such child,
    once parsed; whether the part is parsed to its end). Between chunks only the last child of an open element may
    be incomplete. Parse events for elements would call into Python for every element; a processing instruction put
    before the root (its element a sibling of the root) gives the tree instead, or, for a part not in an ASCII
    superset (UTF-16), an event at ``tag``."""
    head = part.read(CHUNK)
    at = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    if head.startswith(b"<?xml", at):
        end = head.find(b"?>", at)
        at = end + 2 if end > 0 else -1
    elif not head.startswith(b"<", at):
        at = -1
    options = dict(resolve_entities=False, no_network=True, huge_tree=False, collect_ids=False)
    if at >= 0:
        head = head[:at] + MARK + head[at:]
        parser = etree.XMLPullParser(events=("pi",), **options)
    else:
        parser = etree.XMLPullParser(events=("start",), tag=tag, **options)
    mark = root = found = None
    chunk = head
    while True:
        if chunk:
            parser.feed(chunk)
        else:
            parser.close()
        for event, el in parser.read_events():
            if event == "start":
                found = el if found is None else found
            elif mark is None:
                mark = el
        if found is None and mark is not None:
            if root is None:                     # past the prolog's comments and instructions
                node = mark.getnext()
                while node is not None and not isinstance(node.tag, str):
                    mark, node = node, node.getnext()
                root = node
            if root is not None:
                if root.tag == tag:
                    found = root
                else:
                    for found in root.iterchildren(tag):
                        break
                    else:
                        del root[:-1]            # what comes before it is not read
        yield found, not chunk
        if not chunk:
            return
        chunk = part.read(CHUNK)


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        if not "A" <= ch <= "Z":
            raise ValueError(f"bad cell reference {letters[:10]!r}")
        n = n * 26 + ord(ch) - 64
    return n


_DIGITS = "0123456789"
_COLUMNS = {letters: _column(letters) for letters in
            [chr(65 + a) for a in range(26)] + [chr(65 + a) + chr(65 + b) for a in range(26) for b in range(26)]}


def _text_of(si: Any) -> str:
    """A string item's text: its runs joined, phonetic guides left out."""
    return "".join(t.text or "" for t in si.iter(TEXT) if t.getparent().tag != PHONETIC)


class Workbook:
    """The workbook's sheets in order, its shared strings, and which styles are dates."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        names = set(archive.namelist())
        book = _parse(archive.open("xl/workbook.xml")).getroot()
        pr = book.find(MAIN + "workbookPr")
        self.epoch = CALENDAR_MAC_1904 if pr is not None and pr.get("date1904") in ("1", "true") \
            else CALENDAR_WINDOWS_1900
        targets: dict[str, str] = {}
        if "xl/_rels/workbook.xml.rels" in names:
            for rel in _parse(archive.open("xl/_rels/workbook.xml.rels")).getroot().iter(PKG_REL + "Relationship"):
                if rel.get("Type") == WORKSHEET:
                    target = rel.get("Target", "")
                    targets[rel.get("Id", "")] = target.lstrip("/") if target.startswith("/") else \
                        posixpath.normpath(posixpath.join("xl", target))
        self.sheets = [(s.get("name", ""), targets[s.get(REL + "id", "")])
                       for s in book.iter(MAIN + "sheet") if targets.get(s.get(REL + "id", "")) in names]
        self.strings: list[str] = []
        if "xl/sharedStrings.xml" in names:
            with archive.open("xl/sharedStrings.xml") as part:
                for sst, done in _chunks(part, SST):
                    if sst is None:
                        continue
                    items = sst[:] if done else sst[:-1]
                    for si in items:
                        if si.tag == SI:
                            t = si[0] if len(si) == 1 else None          # one plain run: most strings
                            self.strings.append(t.text or "" if t is not None and t.tag == TEXT else _text_of(si))
                    del sst[:len(items)]
        self.dates: set[int] = set()
        if "xl/styles.xml" in names:
            styles = _parse(archive.open("xl/styles.xml")).getroot()
            formats = dict(BUILTIN_FORMATS)
            for f in styles.iter(MAIN + "numFmt"):
                formats[int(f.get("numFmtId", "0"))] = f.get("formatCode", "")
            xfs = styles.find(MAIN + "cellXfs")
            for n, xf in enumerate(() if xfs is None else xfs.iter(MAIN + "xf")):
                if is_date_format(formats.get(int(xf.get("numFmtId", "0")), "")):
                    self.dates.add(n)

    def rows(self, path: str, max_col: int) -> Iterator[tuple[int, tuple]]:
        """(row number, cells) of a sheet, from row 1, every row in between included."""
        empty = (None,) * max_col
        take = self._take
        number, long_row, long_cells, long_col = 0, None, [], 0
        with self.archive.open(path) as part:
            for sheet, done in _chunks(part, SHEET_DATA):
                if sheet is None:
                    continue
                complete = sheet[:] if done else sheet[:-1]
                for row in complete:
                    if row.tag != ROW:
                        continue
                    if row is long_row:
                        cells, col, long_row = long_cells, long_col, None
                    else:
                        cells, col = [None] * max_col, 0
                    take(cells, row, col, max_col)
                    at = row.get("r")
                    at_row = int(at) if at and at.isdigit() else number + 1
                    while number + 1 < at_row:
                        number += 1
                        yield number, empty
                    number += 1
                    yield number, tuple(cells)
                del sheet[:len(complete)]
                if done or not len(sheet):
                    continue
                node = sheet[-1]                     # still open: its complete children read and dropped now
                if node.tag == ROW:
                    if len(node) > 1:
                        if node is not long_row:
                            long_row, long_cells, long_col = node, [None] * max_col, 0
                        cells_done = node[:-1]
                        long_col = take(long_cells, cells_done, long_col, max_col)
                        del node[:len(cells_done)]
                else:                                # not a row: nothing in it is read
                    while len(node):
                        del node[:-1]
                        node = node[-1]

    def _take(self, cells: list, children: Any, col: int, max_col: int) -> int:
        """Reads a row's ``<c>`` children into ``cells``; returns the column of the last one."""
        columns, strings, dates, value = _COLUMNS, self.strings, self.dates, self._value
        for c in children:
            ref = c.get("r")
            if ref:
                letters = ref.rstrip(_DIGITS)
                col = columns.get(letters) or _column(letters)
            elif c.tag == CELL:                 # comments and other elements in a row (no r) are not cells
                col += 1
            else:
                continue
            if col > max_col:                   # beyond the columns read
                continue
            if not len(c):
                cells[col - 1] = None
                continue
            kind = c.get("t")
            first = c[0]
            if kind == "inlineStr":
                # <is><t>text</t></is>, most inline strings: of a cell's children only <is> holds an element with
                # no children of its own (<t>, or <phoneticPr> that has no text)
                if len(first) == 1 and type(t := first[0]) is _ELEMENT and not len(t):
                    cells[col - 1] = t.text or ""
                    continue
            elif first.tag == VALUE:
                raw = first.text
                if kind == "s":
                    cells[col - 1] = None if raw is None else strings[int(raw)]
                    continue
                if kind is None or kind == "n":
                    if raw is None:
                        cells[col - 1] = None
                        continue
                    number: int | float = float(raw) if "." in raw or "e" in raw or "E" in raw else int(raw)
                    if dates and (style := c.get("s")) is not None and style.isdigit() and int(style) in dates:
                        cells[col - 1] = from_excel(number, self.epoch)
                    else:
                        cells[col - 1] = number
                    continue
            cells[col - 1] = value(c)
        return col

    def _value(self, c: Any) -> Any:
        kind = c.get("t", "n")
        if kind == "inlineStr":
            inline = c.find(INLINE)
            if inline is None:
                return None
            if len(inline) == 1 and inline[0].tag == TEXT:      # one plain run: most inline strings
                return inline[0].text or ""
            return _text_of(inline)
        v = c.find(VALUE)
        if v is None or v.text is None:
            return None
        raw = v.text
        if kind == "n":
            number: int | float = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
            style = c.get("s")
            if style is not None and style.isdigit() and int(style) in self.dates:
                return from_excel(number, self.epoch)
            return number
        if kind == "s":
            return self.strings[int(raw)]
        if kind == "b":
            return bool(int(raw))
        if kind == "d":
            value: datetime = from_ISO8601(raw)
            return value
        return raw                        # "str" (a formula's cached text) and "e" (an error code)
