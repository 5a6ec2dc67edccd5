"""A streaming reader of .xlsx sheets: the cell values openpyxl's read-only mode gives (``values_only``), at C speed.

openpyxl builds a Python cell object per cell and converts it in Python; a county's member list of 36,000 rows
reads at about 6,000 rows/s that way. This reader walks each sheet's XML with lxml's ``iterparse`` (entities never
resolved, no network), keeps no more than one row in memory, and ignores cells beyond ``max_col``: a hostile sheet
with a million columns or a cell in XFD1048576 costs what its bytes cost. Values are as openpyxl gives them: shared
and inline strings (rich text joined, phonetic runs left out), numbers as int or float, numbers in a date format as
datetime (the workbook's 1900 or 1904 epoch), booleans, ISO dates, cached formula results, error codes as text.
Rows come numbered from 1 with every row in between (empty ones as all None), each ``max_col`` cells long.
The caller checks the zip first (``reader.check_zip``); any malformed part raises, and the caller says so.
"""

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


def _parse(part: IO[bytes]) -> etree._ElementTree:
    return etree.parse(part, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))


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
            for _, si in etree.iterparse(archive.open("xl/sharedStrings.xml"), tag=MAIN + "si",
                                         resolve_entities=False, no_network=True):
                self.strings.append(_text_of(si))
                si.clear()
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
        cells: list[Any] = [None] * max_col
        number, col, columns = 0, 0, _COLUMNS
        value = self._value
        for _, el in etree.iterparse(self.archive.open(path), events=("end",), tag=(ROW, CELL),
                                     resolve_entities=False, no_network=True):
            if el.tag == CELL:
                ref = el.get("r")
                col = columns.get(ref.rstrip(_DIGITS)) or _column(ref.rstrip(_DIGITS)) if ref else col + 1
                if col <= max_col:
                    cells[col - 1] = value(el)
                else:                       # a hostile row's far cells: not kept, not even as empty elements
                    el.clear()
                    parent = el.getparent()
                    while el.getprevious() is not None:
                        del parent[0]
                continue
            at = el.get("r")
            at_row = int(at) if at and at.isdigit() else number + 1
            while number + 1 < at_row:
                number += 1
                yield number, empty
            number += 1
            yield number, tuple(cells)
            cells, col = [None] * max_col, 0
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]

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
