"""An .xlsx of one sheet takes the column lane too (column_reader.from_table): its cells are typed (numbers, dates,
booleans, blanks), and whatever they are, the file gives the same households, members, counts and row errors
(with their sheet) as when every row goes through the row checker."""

from __future__ import annotations

import random
from datetime import date, datetime

import numpy as np
import pytest

from services.registry.bulk import column_reader
from services.registry.bulk.checker import RawTable
from tests.conftest import VILLAGE
from tests.registry.test_import import family, rows_only, xlsx
from tests.registry.test_import_lanes import (
    mutated_file,
    reset,
    run,
    snapshot,
    spy_columns,
)

TYPED = [None, 0, 1, 2016, 2016.0, 2016.5, True, False, date(2016, 3, 1), datetime(2020, 1, 2, 3, 4), 13951234567,
         int(VILLAGE), float(VILLAGE), "2016年", " "]


def typed_file(seed: int) -> list[list]:
    """A damaged file (mutated_file) whose cells are partly what Excel stores: numbers, dates, booleans, blanks."""
    rnd = random.Random(seed + 100)
    rows = mutated_file(seed)
    for r in rows:
        r[:] = ["ab" if v == "a\x01b" else v for v in r]                 # a control character cannot be stored
        for at, share in ((7, 0.7), (1, 0.5), (0, 0.3), (3, 0.5)):     # 识别年度, 村代码, 户编号, 联系电话 as numbers
            if isinstance(r[at], str) and r[at].isdigit() and rnd.random() < share:
                r[at] = int(r[at])
    for _ in range(20):
        r = rnd.choice(rows)
        at = rnd.randrange(16)
        if at == 9:
            idn = str(r[9])
            r[9] = rnd.choice([int(idn) if idn.isdigit() else None, float(idn[:15]) if idn[:15].isdigit() else 1.5])
        else:
            r[at] = rnd.choice(TYPED)
    return rows


@pytest.mark.parametrize("seed", range(4))
async def test_an_xlsx_gives_the_same_result_through_either_lane(settings, registry, token, regions, monkeypatch,
                                                                 seed):
    content = xlsx(typed_file(seed))
    results = {}
    for lane in ("rows", "columns"):
        await reset(settings)
        with monkeypatch.context() as m:
            written = spy_columns(m)
            if lane == "rows":
                rows_only(m)
            outcome = await run(settings, content, "花名册.xlsx")
        results[lane] = (outcome.summary(),
                         sorted((e.get("sheet"), e["row"], e["field"], e["msg"]) for e in outcome.errors),
                         await snapshot(settings))
        if lane == "columns":
            assert sum(written) > 0          # the clean households took the column lane
        else:
            assert written == []
    assert results["columns"] == results["rows"]
    summary, errors, _ = results["columns"]
    assert summary["households_created"] > 0 and errors and {e[0] for e in errors} == {"花名册"}


def test_only_text_and_whole_numbers_are_read_as_text():
    """A number is its digits (but never in the ID column: the ID rule tells a number from text); a date, a
    fraction or a boolean keeps its row for the row checker."""
    columns = {"household_no": 0, "identified_year": 1, "id_number": 2, "in_school": 3}
    rows = [(2, ("6401221000010001", 2016, "640122198001011234", "是")),
            (3, (6401221000010001, "2016", 640122198001011234, None)),
            (5, ("x", 2016.0, "y", True)),
            (6, ("x", date(2016, 1, 1), "y", "否"))]
    data = column_reader.from_table(RawTable("花名册", columns, rows))
    assert data is not None and data.numbers.tolist() == [2, 3, 5, 6]
    assert data.cells[data.columns["household_no"]].to_pylist() == ["6401221000010001"] * 2 + ["x", "x"]
    assert data.cells[data.columns["identified_year"]].to_pylist() == ["2016", "2016", "", ""]
    assert data.text.tolist() == [True, False, False, False]
    rest = data.rest(np.array([1, 3]))
    assert rest.sheet == "花名册" and rest.columns == columns and rest.rows == [rows[1], rows[3]]   # cells as read
    assert column_reader.from_table(RawTable(None, columns, [])) is None


def test_a_file_of_two_sheets_is_checked_row_by_row():
    import io

    import openpyxl

    from services.registry.bulk import pipeline
    wb = openpyxl.load_workbook(io.BytesIO(xlsx(family(f"{VILLAGE}0001"))))
    second = wb.copy_worksheet(wb.active)
    second.title = "第二组"
    out = io.BytesIO()
    wb.save(out)
    raw = pipeline.read(out.getvalue(), "两组.xlsx")
    assert raw.columns is None and [t.sheet for t in raw.tables] == ["花名册", "第二组"]
    single = pipeline.read(xlsx(family(f"{VILLAGE}0001")), "一组.xlsx")
    assert single.columns is not None and single.columns.table.sheet == "花名册" and single.tables == []
