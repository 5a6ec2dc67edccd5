"""The rows of a sheet as Excel, WPS and LibreOffice save them, read by regular expressions instead of an XML tree.

A sheet saved by a spreadsheet program is a long run of rows in one shape (``<row r="2" spans="1:16"><c r="A2"
t="s"><v>7</v></c>…</row>``): a strict pattern of that shape matches a row at C speed and gives its cells with no
element built, which reads a county's member list about twice as fast as the tree (xlsx.py). The pattern accepts
only well-formed XML (attributes in the schema's order, each at most once; no entity, no character XML forbids),
so a row it matches means exactly what the tree reader would make of it. Anything else — a comment, a rich string,
an entity, attributes in another order — is a piece the tree reader parses on its own (up to the next ``</row>``,
inside a ``<sheetData>`` declaring the sheet's namespaces), and what the pattern cannot vouch for at all (no
``<sheetData>`` near the top, a DOCTYPE, an encoding other than UTF-8, a row longer than ``MAX_PIECE``, a piece
the tree reader cannot parse alone, a sheet whose rows are mostly odd: openpyxl writes every non-ASCII
character as a reference) raises ``Unscannable``: the caller reads the sheet again with the tree reader
from the row after the last one given. Before the rows and after them the part is parsed by lxml as a whole, so a
malformed part fails here as it fails there."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from lxml import etree

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
READ = 1 << 20                      # bytes read at a time
MAX_HEAD = 4 << 20                  # where <sheetData> must begin
TAIL = 1 << 16                      # bytes of what follows the rows parsed at a time (as the tree reader does)
MAX_PIECE = 1 << 20                 # the longest row (or odd piece) held whole
MOSTLY_ODD = 32                     # past this many pieces, a sheet of more than one in four is the tree's

PARSER = dict(resolve_entities=False, no_network=True, huge_tree=False, collect_ids=False)  # lxml, both ways
_TEXT = "[^<>&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*"      # text that means what it says
_VALUE = '"[^"<&\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*"'      # an attribute value not read


def _optional(*names: str) -> str:
    return "".join(f"(?: {name}={_VALUE})?" for name in names)


# CT_Cell: r, s, t, cm, vm, ph; its <f> (CT_CellFormula's attributes in order), then <v>, or <is> of one plain <t>
_CELL = (r'<c r="([A-Z]{1,3})[0-9]+"(?: s="([0-9]+)")?(?: t="([A-Za-z]+)")?' + _optional("cm", "vm", "ph")
         + "(?:/>|>(?:<f" + _optional("t", "aca", "ref", "dt2D", "dtr", "del1", "del2", "r1", "r2", "ca", "si", "bx")
         + f"(?:/>|>{_TEXT}</f>))?(?:<v>({_TEXT})</v>)?"
         + f'(?:<is><t(?: xml:space="preserve")?(>{_TEXT})</t></is>)?</c>)')
_ROW_ATTRIBUTES = ("spans", "s", "customFormat", "ht", "hidden", "customHeight", "outlineLevel", "collapsed",
                   "thickTop", "thickBot", "ph")
# a row's cells, each a match of _CELL, or a lone character of something else (which sends the row to the tree)
_CELLS = re.compile(_CELL + r"|[\s\S]")
_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?(?:<\?xml(?![^>]*encoding)|<\?xml[^>]*encoding=[\"'](?i:utf-?8)[\"']"
                          rb"|<(?!\?xml))")
_PLAIN = re.compile(f'<si><t(?: xml:space="preserve")?>({_TEXT})</t></si>')
_PLAIN_RUNS = re.compile(f'(?:<si><t(?: xml:space="preserve")?>{_TEXT}</t></si>)*')
_ROWS = {declared: re.compile(r'[ \t\r\n]*<row r="([0-9]+)"'
                              + _optional(*_ROW_ATTRIBUTES, *(["x14ac:dyDescent"] if declared else [])) + "(/?)>")
         for declared in (False, True)}               # Excel's row height extension, when its prefix is declared


class Unscannable(Exception):
    """The part is not one the pattern can read; the tree reader reads it."""


def _outline(head: bytes, probe: bytes, tag: str) -> tuple[etree.XMLPullParser, dict[str, str], Any]:
    """A parser fed the part's head (up to where the pattern takes over) and ``probe``, the end of an element
    ``tag`` that must be the root's child and the last thing parsed (so the head does not stop inside a comment or
    any other markup); what the root declares, and the root. Unscannable unless the part is UTF-8 in the main
    namespace, with no DOCTYPE."""
    if b"<!DOCTYPE" in head or not _DECLARATION.match(head):
        raise Unscannable("a DOCTYPE, or not UTF-8")
    outline = etree.XMLPullParser(events=("start", "end", "start-ns"), **PARSER)
    try:
        outline.feed(head + probe)
    except etree.XMLSyntaxError:
        raise Unscannable("the part's head") from None
    spaces: dict[str, str] = {}                     # the root's namespaces: the ones in scope where the pattern reads
    events = list(outline.read_events())
    for event, value in events:
        if event != "start-ns":
            break
        spaces[value[0]] = value[1]
    root = next((value for event, value in events if event == "start"), None)
    last = events[-1] if events else None
    if (root is None or spaces.get("") != NS or last is None or last[0] != "end" or last[1].tag != f"{{{NS}}}{tag}"
            or last[1].getparent() is not root):
        raise Unscannable("not where the pattern can begin")
    return outline, spaces, root


def strings(part: IO[bytes]) -> list[str]:
    """The shared strings, when each is one plain run (``<si><t>…</t></si>``, as Excel saves text typed in a
    cell); Unscannable when any is not (rich text, phonetic guides), and the tree reads them all."""
    head = part.read(READ)
    if (at := head.find(b"<si>")) < 0:
        raise Unscannable("no plain string near the top")
    outline, _, root = _outline(head[:at], b"<si/>", "si")
    if root.tag != f"{{{NS}}}sst":
        raise Unscannable("not a table of strings")
    found: list[str] = []
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text, done = decoder.decode(head[at:]), False
        while not done:
            more = part.read(READ)
            done = not more
            text += decoder.decode(more, final=done)
            end = text.rfind("</si>")
            end = end + len("</si>") if end >= 0 else 0
            if not _PLAIN_RUNS.fullmatch(text, 0, end):
                raise Unscannable("a string that is not one plain run")
            found += _PLAIN.findall(text, 0, end)
            text = text[end:]
            if len(text) > MAX_PIECE:
                raise Unscannable("a string too long")
    except UnicodeDecodeError:
        raise Unscannable("not UTF-8") from None
    if "<si" in text:
        raise Unscannable("a string after the plain ones")
    outline.feed(text.encode())
    outline.close()
    return found


def rows(part: IO[bytes], max_col: int, *, put: Callable[[list, list[tuple]], bool],
         piece: Callable[[bytes], Iterator[tuple[str | None, list]]]) -> Iterator[tuple[str, list]]:
    """(row's r, its cells) for each row of a sheet. ``put(cells, matches)`` fills a row's cells from the
    pattern's (letters, style, type, value, ">" + inline text) per cell and says whether every match was a cell
    (letters empty: a character of something else); ``piece(xml)`` reads what the pattern does not (a <sheetData>
    document) the tree's way, as (r or None, cells)."""
    head = part.read(READ)
    while (at := head.find(b"<sheetData>")) < 0:
        more = part.read(READ) if len(head) < MAX_HEAD else b""
        if not more:
            raise Unscannable("no <sheetData> near the top")
        head += more
    head, body = head[:at + len(b"<sheetData>")], head[at + len(b"<sheetData>"):]
    outline, spaces, root = _outline(head, b"</sheetData>", "sheetData")
    wrapper = ("<sheetData" + "".join(f" xmlns{':' + p if p else ''}={quoteattr(u)}" for p, u in spaces.items())
               + ">").encode()
    match = _ROWS["x14ac" in spaces].match
    cells_of = _CELLS.findall
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text, pos, done = decoder.decode(body), 0, False
        given = pieces = 0
        while True:
            m = match(text, pos)
            if m is not None:
                given += 1
                if m.group(2):                      # <row …/>
                    pos = m.end()
                    yield m.group(1), [None] * max_col
                    continue
                if (end := text.find("</row>", m.end())) >= 0:
                    cells = [None] * max_col
                    if put(cells, cells_of(text, m.end(), end)):
                        pos = end + len("</row>")
                        yield m.group(1), cells
                        continue
            end_row, end_data = text.find("</row>", pos), text.find("</sheetData>", pos)
            if end_row < 0 and end_data < 0:        # a row not read to its end yet
                if done or len(text) - pos > MAX_PIECE:
                    raise Unscannable("a row too long, or the part ends inside one")
                more = part.read(READ)
                text, pos, done = text[pos:] + decoder.decode(more, final=not more), 0, not more
                continue
            last = 0 <= end_data and (end_row < 0 or end_data < end_row)
            end = end_data if last else end_row + len("</row>")
            if end - pos > MAX_PIECE:
                raise Unscannable("an odd piece too long")
            if text[pos:end].strip():
                pieces += 1
                if pieces > MOSTLY_ODD and pieces * 4 > given:
                    raise Unscannable("mostly rows the pattern does not read")
                try:
                    yield from piece(wrapper + text[pos:end].encode() + b"</sheetData>")
                except etree.XMLSyntaxError:
                    raise Unscannable("a piece the tree reader cannot parse alone") from None
            if last:
                break
            pos = end
    except UnicodeDecodeError:
        raise Unscannable("not UTF-8") from None
    tail = text[end_data + len("</sheetData>"):].encode() + decoder.getstate()[0]
    while tail or (tail := part.read(TAIL)):         # the rest of the part, parsed and dropped (its events too)
        for at in range(0, len(tail), TAIL):
            outline.feed(tail[at:at + TAIL])
            for _ in outline.read_events():
                pass
            del root[:-1]
        tail = b""
    outline.close()

