"""Rows as spreadsheet programs write them are read by a pattern (xlsx_scan), everything else by the tree: either
way a sheet reads exactly as the tree alone reads it, wherever the chunks end, and a malformed or damaged sheet is
refused as the tree refuses it."""

import io
import zipfile
from itertools import islice

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.registry.bulk import reader, xlsx, xlsx_scan
from tests.registry.test_xlsx_reader import handmade, streamed_rows
from tests.registry.test_xlsx_reader_speed_shapes import replaced

MAIN = f'xmlns="{xlsx_scan.NS}"'
EXCEL_ROOT = (f'<worksheet {MAIN} xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
              'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac" '
              'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac">')
EXCEL_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n' + EXCEL_ROOT
              + '<dimension ref="A1:H4"/><sheetViews><sheetView workbookViewId="0"/></sheetViews>'
              '<sheetFormatPr defaultRowHeight="13.5" x14ac:dyDescent="0.15"/><cols><col min="1" max="1" width="20"/>'
              '</cols><sheetData>')
EXCEL_TAIL = '</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>' \
             '</worksheet>'
# rows as Excel and WPS save them: every kind of cell the pattern reads
EXCEL_ROWS = [
    '<row r="1" spans="1:8" x14ac:dyDescent="0.15"><c r="A1" t="s"><v>0</v></c><c r="B1" s="1"><v>43831</v></c>'
    '<c r="C1"><v>12.5</v></c><c r="D1" t="b"><v>1</v></c><c r="E1" t="e"><v>#N/A</v></c>'
    '<c r="F1" t="str"><f>"公式"</f><v>公式</v></c><c r="G1" t="inlineStr"><is><t xml:space="preserve"> 内 联 </t>'
    '</is></c><c r="H1" s="1" t="n"><v>1</v></c></row>',
    '<row r="2" spans="1:8" ht="20" customHeight="1" x14ac:dyDescent="0.15"><c r="A2" t="s"><v>1</v></c>'
    '<c r="B2" s="1"/><c r="C2"><f t="shared" ref="C2:C3" si="0">C1*2</f><v>25</v></c><c r="D2" t="inlineStr">'
    '<is><t></t></is></c><c r="E2" t="s"><v></v></c><c r="BL2"><v>64</v></c><c r="BM2"><v>65</v></c></row>',
    '<row r="4"/>',
    '<row r="5"><c r="A5" t="s"><v>2</v></c><c r="A5"/><c r="C5"><f t="shared" si="0"/><v>1E3</v></c>'
    '<c r="D5" t="d"><v>2020-01-02T03:04:05</v></c></row>',
]
STRINGS = "<si><t>户主</t></si><si><t>马文军</t></si><si><t>共享</t></si>"
# rows the pattern leaves to the tree: entities, comments, whitespace between cells, attributes in another order,
# a carriage return in text, rich text, a cell without r, a namespace declared on the row, two spaces
ODD_ROWS = [
    '<row r="7"><c r="A7" t="inlineStr"><is><t>甲&amp;乙&#x4E19;</t></is></c></row>',
    '<!-- a note --><row r="8"><c r="A8"><v>8</v></c></row>',
    '<row r="9">\n  <c r="A9"><v>9</v></c>\n  <c r="B9" t="s"><v>0</v></c>\n</row>',
    '<row spans="1:2" r="10"><c t="s" r="A10"><v>1</v></c></row>',
    '<row r="11"><c r="A11" t="inlineStr"><is><t>一\r\n二</t></is></c></row>',
    '<row r="12"><c r="A12" t="inlineStr"><is><r><t>马</t></r><r><t>文</t></r></is></c><c><v>2</v></c></row>',
    '<row r="13" x:dy="1" xmlns:x="urn:x"><c r="A13"><v>13</v></c></row>',
    '<row r="14"><c r="A14"  s="1"><v>1</v></c></row>',
]


def sheet(rows: list[str]) -> bytes:
    content = handmade("", strings=STRINGS)
    return replaced(content, "xl/worksheets/sheet1.xml", (EXCEL_HEAD + "".join(rows) + EXCEL_TAIL).encode())


def refuse(*args, **kwargs):
    raise xlsx_scan.Unscannable("the tree alone")


def tree_rows(content: bytes, monkeypatch) -> list[tuple]:
    with monkeypatch.context() as m:
        m.setattr(xlsx_scan, "rows", refuse)
        return streamed_rows(content)["S"]


def counting_pieces(monkeypatch) -> list[bytes]:
    seen: list[bytes] = []
    piece = xlsx.Workbook._piece

    def counted(self, xml, max_col, parser):
        seen.append(xml)
        return piece(self, xml, max_col, parser)

    monkeypatch.setattr(xlsx.Workbook, "_piece", counted)
    return seen


def test_rows_as_excel_saves_them_are_the_patterns_and_read_as_the_tree_reads_them(monkeypatch):
    content = sheet(EXCEL_ROWS)
    expected = tree_rows(content, monkeypatch)
    pieces = counting_pieces(monkeypatch)
    rows = streamed_rows(content)["S"]
    assert rows == expected and pieces == []            # every row read by the pattern
    assert rows[0][:8] == ("户主", xlsx.from_excel(43831, xlsx.CALENDAR_WINDOWS_1900), 12.5, True, "#N/A", "公式",
                           " 内 联 ", xlsx.from_excel(1, xlsx.CALENDAR_WINDOWS_1900))
    assert rows[1][:5] == ("马文军", None, 25, "", None) and rows[1][63] == 64 and len(rows[1]) == reader.MAX_COLUMNS
    assert rows[2] == rows[3] == (None,) * reader.MAX_COLUMNS
    assert rows[4][:4] == (None, None, 1000.0, xlsx.from_ISO8601("2020-01-02T03:04:05"))


@pytest.mark.parametrize("read", [7, 61, 4096])
def test_odd_rows_go_to_the_tree_one_piece_each_and_the_rest_stays_the_patterns(monkeypatch, read):
    monkeypatch.setattr(xlsx_scan, "READ", read)
    content = sheet(EXCEL_ROWS + ODD_ROWS + EXCEL_ROWS[:1])
    expected = tree_rows(content, monkeypatch)
    pieces = counting_pieces(monkeypatch)
    rows = streamed_rows(content)["S"]
    assert rows == expected
    assert len(pieces) == len(ODD_ROWS)                 # one piece each, the rows around them the pattern's
    assert rows[6][0] == "甲&乙丙" and rows[10][0] == "一\n二" and rows[11][:2] == ("马文", 2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(EXCEL_ROWS + ODD_ROWS[:6] + ["", " \n", '<row r="3"><c r="A3"><v>3</v></c></row>']),
                max_size=12),
       st.sampled_from([5, 64, 1 << 20]))
def test_any_mix_of_rows_reads_as_the_tree_reads_it(monkeypatch, rows, read):
    monkeypatch.setattr(xlsx_scan, "READ", read)
    content = sheet(rows)
    assert streamed_rows(content)["S"] == tree_rows(content, monkeypatch)


DAMAGE = ["<", ">", "&", '"', "/", " ", "\r", "\x01", "=", "户", "&amp;", "<!--", "-->", "</row>", '<row r="9">',
          "</c>", '<c r="Z9">', "<v>", "</v>", 't="s"', "\ufffe", "]]>", "<![CDATA[x]]>"]


def first_rows(content: bytes) -> list[tuple] | str:
    """The first 50 rows (a damaged row number may stand for millions of empty rows), or that it cannot be read."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            book = xlsx.Workbook(z)
            return [cells for _, cells in islice(book.rows(book.sheets[0][1], reader.MAX_COLUMNS), 50)]
    except Exception:   # noqa: BLE001 - what the import says of any failure: the sheet cannot be read
        return "cannot be read"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(EXCEL_ROWS + ODD_ROWS), min_size=1, max_size=5),
       st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["insert", "delete", "cut"]), st.sampled_from(DAMAGE)),
                min_size=1, max_size=3))
def test_a_damaged_sheet_reads_or_fails_as_the_tree_does(monkeypatch, rows, damage):
    xml = "".join(rows) + EXCEL_TAIL
    for where, how, what in damage:
        at = int(where * len(xml))
        xml = {"insert": xml[:at] + what + xml[at:], "delete": xml[:at] + xml[at + 3:], "cut": xml[:at]}[how]
    content = replaced(handmade("", strings=STRINGS), "xl/worksheets/sheet1.xml", (EXCEL_HEAD + xml).encode())
    fast = first_rows(content)
    with monkeypatch.context() as m:
        m.setattr(xlsx_scan, "rows", refuse)
        assert first_rows(content) == fast


def test_a_row_too_long_to_hold_sends_the_rest_of_the_sheet_to_the_tree_without_a_row_twice(monkeypatch):
    monkeypatch.setattr(xlsx_scan, "MAX_PIECE", 200)
    long_row = '<row r="6">' + "".join(f'<c r="{chr(65 + i)}6"><v>{i}</v></c>' for i in range(20)) + "</row>"
    content = sheet(EXCEL_ROWS + [long_row, '<row r="7"><c r="A7"><v>7</v></c></row>'])
    rows = streamed_rows(content)["S"]
    assert rows == tree_rows(content, monkeypatch) and len(rows) == 7
    assert rows[5][:20] == tuple(range(20)) and rows[6][0] == 7


@pytest.mark.parametrize("part", [
    '<?xml version="1.0" encoding="UTF-16"?>' + f"<worksheet {MAIN}><sheetData></sheetData></worksheet>",
    f'<!DOCTYPE worksheet [<!ENTITY a "x">]><worksheet {MAIN}><sheetData></sheetData></worksheet>',
    f"<x:worksheet xmlns:x=\"{xlsx_scan.NS}\"><x:sheetData></x:sheetData></x:worksheet>",
    f"<worksheet {MAIN}><sheetData/></worksheet>",
    f"<worksheet {MAIN}><!-- <sheetData> --><sheetData ></sheetData></worksheet>",
    f'<worksheet {MAIN}><sheetData ><!-- <sheetData> --><row r="1"><c r="A1"><v>1</v></c></row></sheetData>'
    "</worksheet>",                                               # the pattern would begin inside a comment
])
def test_a_part_the_pattern_cannot_vouch_for_is_left_to_the_tree(part):
    with pytest.raises(xlsx_scan.Unscannable):
        list(xlsx_scan.rows(io.BytesIO(part.encode()), 4, put=None, piece=None))


@pytest.mark.parametrize("broken", [
    EXCEL_HEAD + EXCEL_ROWS[0] + EXCEL_ROWS[1][:150],                      # the part ends inside a row
    EXCEL_HEAD + '<row r="1"><c r="A1"><v>1\x01</v></c></row>' + EXCEL_TAIL,   # a character XML forbids
    EXCEL_HEAD + '<row r="1"><c r="A1" r="B1"><v>1</v></c></row>' + EXCEL_TAIL,  # an attribute twice
    EXCEL_HEAD + '<row r="1"><c r="A1"><v>1</v></c></row></sheetData><mergeCells>' + "</worksheet>",
    EXCEL_HEAD + '<row r="1"><c r="A1"><v>1</v></c></row>' + EXCEL_TAIL + "<extra/>",
    EXCEL_HEAD + '<row r="1"><c r="A1" t="s"><v>9</v></c></row>' + EXCEL_TAIL,   # no such shared string
])
def test_a_malformed_sheet_is_refused_as_the_tree_refuses_it(monkeypatch, broken):
    content = replaced(handmade("", strings=STRINGS), "xl/worksheets/sheet1.xml", broken.encode())
    with pytest.raises(reader.FileRejected, match="cannot be read"):
        list(reader.tables(content, "x.xlsx"))
    monkeypatch.setattr(xlsx_scan, "rows", refuse)
    with pytest.raises(reader.FileRejected, match="cannot be read"):
        list(reader.tables(content, "x.xlsx"))


PLAIN = '<si><t>户主</t></si><si><t xml:space="preserve"> 马 </t></si><si><t></t></si>'


@pytest.mark.parametrize("items, plain", [
    (PLAIN, True),
    (PLAIN + '<si><r><t>马</t></r><r><t>文军</t></r><rPh sb="0" eb="1"><t>ma</t></rPh></si>', False),
    (PLAIN + "<si><t>甲&amp;乙</t></si>", False),
    (PLAIN + "\n<si><t>换行之后</t></si>", False),
    (PLAIN + "<si/>", False),
    (" ", False),                       # no string at all
    ("<!-- <si><t>注释里</t></si> -->", False),                  # the pattern would begin inside a comment
])
def test_shared_strings_read_as_the_tree_reads_them(monkeypatch, items, plain):
    content = handmade('<row r="1"><c r="A1" t="s"><v>0</v></c></row>', strings=items)
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        fast = xlsx.Workbook(z).strings
        if plain:
            assert xlsx_scan.strings(z.open("xl/sharedStrings.xml")) == fast
        else:
            with pytest.raises(xlsx_scan.Unscannable):
                xlsx_scan.strings(z.open("xl/sharedStrings.xml"))
        monkeypatch.setattr(xlsx_scan, "strings", refuse)
        assert xlsx.Workbook(z).strings == fast


def test_a_malformed_table_of_strings_is_refused():
    content = handmade('<row r="1"><c r="A1" t="s"><v>0</v></c></row>', strings=PLAIN)
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        sst = z.read("xl/sharedStrings.xml").replace(b"</sst>", b"")
    with pytest.raises(reader.FileRejected, match="not a readable"):
        list(reader.tables(replaced(content, "xl/sharedStrings.xml", sst), "x.xlsx"))


def test_a_sheet_of_mostly_odd_rows_is_left_to_the_tree_after_a_few(monkeypatch):
    """openpyxl writes every character outside ASCII as a reference (&#25143;): no row is the pattern's, so after
    MOSTLY_ODD pieces the tree reads the rest of the sheet in one go, never a piece per row."""
    rows = [f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>&#25143;{n}</t></is></c><c r="B{n}"><v>{n}</v></c></row>'
            for n in range(1, 301)]
    content = sheet(rows)
    expected = tree_rows(content, monkeypatch)
    pieces = counting_pieces(monkeypatch)
    got = streamed_rows(content)["S"]
    assert got == expected and len(got) == 300 and got[299][:2] == ("户300", 300)
    assert len(pieces) == xlsx_scan.MOSTLY_ODD


@pytest.mark.parametrize("way", ["pattern", "tree"])
def test_what_follows_the_rows_is_parsed_and_dropped_a_chunk_at_a_time(way):
    """4,000,000 elements after </sheetData> (a hostile sheet's tail), read either way in a child process whose
    peak memory grows by a few MB, not by the elements (and the parser's events for them)."""
    import subprocess
    import sys
    code = f"""
import io, resource, zipfile
from services.registry.bulk import xlsx, xlsx_scan
from tests.registry.test_xlsx_reader import handmade
from tests.registry.test_xlsx_reader_speed_shapes import replaced
body = ('<worksheet xmlns="{xlsx_scan.NS}"><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>'
        + '<x a="1"/>' * 4_000_000 + '</worksheet>').encode()
content = replaced(handmade(""), "xl/worksheets/sheet1.xml", body)
if "{way}" == "tree":
    def refuse(*args, **kwargs):
        raise xlsx_scan.Unscannable("the tree alone")
    xlsx_scan.rows = refuse
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with zipfile.ZipFile(io.BytesIO(content)) as z:
    book = xlsx.Workbook(z)
    rows = list(book.rows(book.sheets[0][1], 4))
print(len(rows), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "1" and int(out[1]) < 64, out         # MB; holding the tail (and its events): 450–1,800
