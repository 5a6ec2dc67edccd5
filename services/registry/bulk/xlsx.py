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
caller says so.

The shared strings and the rows as spreadsheet programs save them are read by xlsx_scan's patterns, which give
what this tree would give at about twice its speed; a part (or the rest of a sheet) they cannot vouch for is read
here."""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel, from_ISO8601

from services.registry.bulk import xlsx_scan

MAIN = f"{{{xlsx_scan.NS}}}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
WORKSHEET = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
ROW, CELL, VALUE, INLINE, TEXT, PHONETIC = (MAIN + t for t in ("row", "c", "v", "is", "t", "rPh"))
SHEET_DATA, SST, SI = MAIN + "sheetData", MAIN + "sst", MAIN + "si"
CHUNK = 1 << 16                     # bytes of XML parsed at a time
MARK = b"<?jz-stream?>"             # see _chunks
_ELEMENT = etree._Element           # not a comment, processing instruction or entity


def _parse(part: IO[bytes]) -> etree._ElementTree:
    return etree.parse(part, etree.XMLParser(**xlsx_scan.PARSER))


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
    if at >= 0:
        head = head[:at] + MARK + head[at:]
        parser = etree.XMLPullParser(events=("pi",), **xlsx_scan.PARSER)
    else:
        parser = etree.XMLPullParser(events=("start",), tag=tag, **xlsx_scan.PARSER)
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
        if found is not None and (parent := found.getparent()) is not None:
            del parent[parent.index(found) + 1:-1]      # what comes after it is not read either
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
_INDEX: dict[int, dict[str, int]] = {}  # per row width: letters → position, for the columns read


def _positions(width: int) -> dict[str, int]:
    found = {}
    for n in range(1, width + 1):
        letters, rest = "", n
        while rest:
            rest, digit = divmod(rest - 1, 26)
            letters = chr(65 + digit) + letters
        found[letters] = n - 1
    return found


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
            try:
                with archive.open("xl/sharedStrings.xml") as part:
                    self.strings = xlsx_scan.strings(part)
            except xlsx_scan.Unscannable:
                self.strings = self._tree_strings(archive)
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

    @staticmethod
    def _tree_strings(archive: zipfile.ZipFile) -> list[str]:
        found: list[str] = []
        with archive.open("xl/sharedStrings.xml") as part:
            for sst, done in _chunks(part, SST):
                if sst is None:
                    continue
                items = sst[:] if done else sst[:-1]
                for si in items:
                    if si.tag == SI:
                        t = si[0] if len(si) == 1 else None          # one plain run: most strings
                        found.append(t.text or "" if t is not None and t.tag == TEXT else _text_of(si))
                del sst[:len(items)]
        return found

    def rows(self, path: str, max_col: int) -> Iterator[tuple[int, tuple]]:
        """(row number, cells) of a sheet, from row 1, every row in between included: by the pattern of the rows
        spreadsheet programs write (xlsx_scan) when it can read the sheet, else (from where it stopped) the tree's
        way."""
        given = 0
        try:
            with self.archive.open(path) as part:
                parser = etree.XMLParser(**xlsx_scan.PARSER)
                for number, cells in _numbered(xlsx_scan.rows(part, max_col, put=self._put,
                                                              piece=lambda xml: self._piece(xml, max_col, parser)),
                                               max_col):
                    given = number
                    yield number, cells
            return
        except xlsx_scan.Unscannable:
            pass
        with self.archive.open(path) as part:
            for number, cells in _numbered(self._parsed(part, max_col), max_col):
                if number > given:
                    yield number, cells

    def _parsed(self, part: IO[bytes], max_col: int) -> Iterator[tuple[str | None, list]]:
        """(row's r, cells) of each row, from the tree built a chunk at a time."""
        take = self._take
        long_row, long_cells, long_col = None, [], 0
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
                yield row.get("r"), cells
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

    def _piece(self, xml: bytes, max_col: int, parser: etree.XMLParser) -> Iterator[tuple[str | None, list]]:
        """The rows of a <sheetData> document (what the pattern left to the tree)."""
        for row in etree.fromstring(xml, parser):
            if row.tag == ROW:
                cells = [None] * max_col
                self._take(cells, row, 0, max_col)
                yield row.get("r"), cells

    def _put(self, cells: list, matches: list[tuple[str, str, str, str, str]]) -> bool:
        """Fills cells from the pattern's matches (xlsx_scan): values exactly as ``_take`` gives them; False when a
        match is no cell (the row is then the tree's)."""
        strings, dates, typed = self.strings, self.dates, self._typed
        at = _INDEX.get(len(cells)) or _INDEX.setdefault(len(cells), _positions(len(cells)))
        for letters, style, kind, raw, inline in matches:
            i = at.get(letters)
            if i is None:
                if not letters:                 # not a cell
                    return False
                continue                        # beyond the columns read
            if kind == "s":
                cells[i] = strings[int(raw)] if raw else None
            elif not kind and not (dates and style):
                cells[i] = (float(raw) if "." in raw or "e" in raw or "E" in raw else int(raw)) if raw else None
            elif kind == "inlineStr":
                cells[i] = inline[1:] if inline else None
            else:
                cells[i] = typed(kind or "n", raw or None, style or None)
        return True

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
        return self._typed(kind, None if v is None else v.text, c.get("s"))

    def _typed(self, kind: str, raw: str | None, style: str | None) -> Any:
        """A cell's value from its type and the text of its <v>."""
        if raw is None:
            return None
        if kind == "n":
            number: int | float = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
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


def _numbered(rows: Iterator[tuple[str | None, list]], max_col: int) -> Iterator[tuple[int, tuple]]:
    """Rows numbered by their r (a row numbered before the last one takes the next number), empty rows between."""
    empty = (None,) * max_col
    number = 0
    for at, cells in rows:
        at_row = int(at) if at and at.isdigit() else number + 1
        while number + 1 < at_row:
            number += 1
            yield number, empty
        number += 1
        yield number, tuple(cells)
