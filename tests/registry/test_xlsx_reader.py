"""The streaming .xlsx reader gives what openpyxl's read-only mode gives, cell for cell, and stays bounded on
hostile sheets."""

import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from services.registry.bulk import reader, xlsx


def book_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "户信息"
    ws.append(["行政村代码", "户主", "身份证号", "人数", "收入", "识别年度", "是否", None, "备注"])
    ws.append(["640122100001", "马文军", "640122198001011234", 4, 12345.5, date(2016, 3, 1), True, None, "=1+1"])
    ws.append([None] * 9)
    ws.append(["640122100002", "李 娟 ", "64012219900202124X", 0, -1.25e-7, datetime(2020, 1, 2, 3, 4, 5), False])
    ws.cell(row=7, column=70, value="beyond the columns read")
    ws.cell(row=9, column=2, value="after a gap")
    ws["F2"].number_format = "yyyy-mm-dd"
    ws["E4"].number_format = "0.00%"
    other = wb.create_sheet("第二页")
    other.append(["只有表头"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def openpyxl_rows(content: bytes, title: str) -> list[tuple]:
    wb = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    sheet = wb[title]
    sheet.reset_dimensions()
    rows = list(sheet.iter_rows(max_col=reader.MAX_COLUMNS, values_only=True))
    wb.close()
    return rows


def streamed_rows(content: bytes) -> dict[str, list[tuple]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        book = xlsx.Workbook(archive)
        return {title: [cells for _, cells in book.rows(path, reader.MAX_COLUMNS)] for title, path in book.sheets}


def test_the_streamed_values_are_openpyxls_cell_for_cell():
    content = book_bytes()
    streamed = streamed_rows(content)
    assert list(streamed) == ["户信息", "第二页"]           # the worksheets, in order
    for title, rows in streamed.items():
        expected = openpyxl_rows(content, title)
        assert rows[:len(expected)] == expected, title
        assert all(all(c is None for c in extra) for extra in rows[len(expected):])
    first = streamed["户信息"]
    assert first[1][5] == datetime(2016, 3, 1) and first[1][3] == 4 and first[1][6] is True
    assert first[2] == (None,) * reader.MAX_COLUMNS and first[8][1] == "after a gap"
    assert all(len(r) == reader.MAX_COLUMNS for r in first)


def handmade(sheet_xml: str, *, strings: str = "", book_pr: str = "") -> bytes:
    """A minimal workbook of one sheet written by hand (inline and rich strings, the 1904 epoch, odd refs)."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'content-types"/>')
        z.writestr("xl/workbook.xml", f'<workbook {ns} {rel}>{book_pr}<sheets><sheet name="S" sheetId="1" '
                   'r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
                   '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/styles.xml", f'<styleSheet {ns}><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/>'
                   '</cellXfs></styleSheet>')
        if strings:
            z.writestr("xl/sharedStrings.xml", f"<sst {ns}>{strings}</sst>")
        z.writestr("xl/worksheets/sheet1.xml", f"<worksheet {ns}><sheetData>{sheet_xml}</sheetData></worksheet>")
    return out.getvalue()


def test_inline_rich_and_phonetic_strings_and_the_1904_epoch():
    content = handmade(
        '<row r="1"><c r="A1" t="inlineStr"><is><t>内联</t></is></c><c r="B1" t="s"><v>0</v></c>'
        '<c t="b"><v>1</v></c><c r="D1" s="1"><v>1</v></c><c r="E1" t="e"><v>#N/A</v></c>'
        '<c r="F1" t="str"><v>公式</v></c></row>',
        strings='<si><r><t>马</t></r><r><t>文军</t></r><rPh sb="0" eb="1"><t>ma</t></rPh></si>',
        book_pr='<workbookPr date1904="1"/>')
    [cells] = streamed_rows(content)["S"]
    assert cells[:6] == ("内联", "马文军", True, datetime(1904, 1, 2), "#N/A", "公式")


def test_a_cell_at_the_far_corner_costs_nothing():
    """calamine builds a grid up to XFD1048576 for this 1 KB sheet; here the cell is ignored, the rows before it
    are the ones asked for."""
    content = handmade('<row r="1"><c r="A1" t="inlineStr"><is><t>户主</t></is></c></row>'
                       '<row r="3"><c r="XFD3"><v>1</v></c></row>')
    rows = streamed_rows(content)["S"]
    assert len(rows) == 3 and rows[0][0] == "户主" and rows[2] == (None,) * reader.MAX_COLUMNS


@pytest.mark.parametrize("xml", ['<row r="1"><c r="A1" t="s"><v>7</v></c></row>',          # no such string
                                 '<row r="1"><c r="A1"><v>1<!-- unterminated</v></c></row>'])
def test_a_malformed_sheet_is_a_clear_refusal(xml):
    with pytest.raises(reader.FileRejected, match="cannot be read|not a readable"):
        list(reader.tables(handmade(xml), "x.xlsx"))


def test_entities_are_never_expanded():
    bomb = ('<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>')
    content = handmade('<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row>')
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = bomb.encode() + parts["xl/worksheets/sheet1.xml"]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    assert streamed_rows(out.getvalue())["S"][0][0] == ""          # the reference is left unresolved
