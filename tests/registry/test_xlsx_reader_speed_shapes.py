"""The streamed .xlsx reader parses a chunk at a time: the values do not depend on where the chunks end, odd
references and odd shapes read as before, a part in UTF-16 reads too, and a row of a million cells is read (and
dropped) a chunk at a time, never held whole."""

import io
import zipfile
from datetime import datetime

import pytest

from services.registry.bulk import reader, xlsx
from tests.registry.test_xlsx_reader import book_bytes, handmade, openpyxl_rows, streamed_rows

ODD = ('<row r="2"><c r="B2"><v>1</v></c><c r="B2"/><c r="C2"><v>5</v></c><c r="C2"><f>A1</f></c><c><v>7</v></c>'
       '<!-- note --><c t="b"><v>0</v></c><?pi x?><c r="A2" t="inlineStr"><is><r><t>甲</t></r><r><t>乙</t></r></is>'
       '</c></row><row><c r="D3" t="str"><f>X</f><v>公式</v></c><c t="e"><v>#DIV/0!</v></c>'
       '<c t="d"><v>2020-01-02T03:04:05</v></c><c t="inlineStr"/><c t="inlineStr"><is><phoneticPr fontId="1"/></is>'
       '</c><c t="inlineStr"><is><t>a</t><rPh><t>b</t></rPh></is></c><c t="inlineStr"><v>9</v></c>'
       '<c t="s"><v>0</v></c><c r="BL3"><v>64</v></c><c><v>65</v></c><c r="A3" s="1"><v>1.5</v></c></row>'
       '<row r="2"><c><v>1e3</v></c></row>'
       '<row r="6"><c r="XFD6"><v>1</v></c><c><v>2</v></c><c r="A6"><v>3</v></c></row>')


def odd_book() -> bytes:
    return handmade(ODD, strings="<si><t>共享</t></si>")


def test_odd_references_and_shapes():
    """A later cell at a column replaces an earlier one; cells without r follow the one before; comments are no
    cells; a row numbered before the last one takes the next number."""
    rows = streamed_rows(odd_book())["S"]
    assert len(rows) == 6
    assert rows[0] == (None,) * reader.MAX_COLUMNS
    assert rows[1][:6] == ("甲乙", None, None, 7, False, None)
    assert rows[2][:11] == (datetime(1900, 1, 1, 12), None, None, "公式", "#DIV/0!", datetime(2020, 1, 2, 3, 4, 5),
                            None, "", "a", None, "共享")
    assert rows[2][63] == 64 and len(rows[2]) == reader.MAX_COLUMNS
    assert rows[3][0] == 1000.0 and rows[4] == (None,) * reader.MAX_COLUMNS
    assert rows[5][:2] == (3, None)


@pytest.mark.parametrize("chunk", [7, 61, 1000])
def test_the_values_do_not_depend_on_where_the_chunks_end(monkeypatch, chunk):
    expected = {name: streamed_rows(make()) for name, make in (("book", book_bytes), ("odd", odd_book))}
    monkeypatch.setattr(xlsx, "CHUNK", chunk)
    assert streamed_rows(book_bytes()) == expected["book"]
    assert streamed_rows(odd_book()) == expected["odd"]
    content = book_bytes()
    first = openpyxl_rows(content, "户信息")
    assert streamed_rows(content)["户信息"][:len(first)] == first


def replaced(content: bytes, name: str, data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts[name] = data
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    return out.getvalue()


def test_a_sheet_in_utf16_reads_the_same():
    content = odd_book()
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?>' + sheet).encode("utf-16")
    assert streamed_rows(replaced(content, "xl/worksheets/sheet1.xml", utf16)) == streamed_rows(content)
    bom = b"\xef\xbb\xbf" + b'<?xml version="1.0" encoding="UTF-8"?>' + sheet.encode()
    assert streamed_rows(replaced(content, "xl/worksheets/sheet1.xml", bom)) == streamed_rows(content)


def test_a_row_of_a_million_cells_is_never_held_whole(monkeypatch):
    """One <row> of 1,000,000 cells (its last cell back at A): read a chunk at a time, each chunk's cells dropped
    once read, the row's values as if it were short."""
    many = 1_000_000
    content = handmade('<row r="1"><c r="A1" t="inlineStr"><is><t>户主</t></is></c><c><v>2</v></c>'
                       + "<c/>" * many + '<c r="C1"><v>3</v></c></row><row r="2"><c r="A2"><v>4</v></c></row>')
    seen: list[int] = []
    take = xlsx.Workbook._take

    def counting(self, cells, children, col, max_col):
        seen.append(len(children))
        return take(self, cells, children, col, max_col)

    monkeypatch.setattr(xlsx.Workbook, "_take", counting)
    rows = streamed_rows(content)["S"]
    assert rows[0][:3] == ("户主", 2, 3) and rows[1][0] == 4 and len(rows) == 2
    assert sum(seen) >= many and len(seen) > 10
    assert max(seen) <= xlsx.CHUNK // len("<c/>") + 1          # never more cells at once than one chunk holds
