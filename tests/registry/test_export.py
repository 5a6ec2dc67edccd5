"""户有卡、村有册: GET /api/v1/exports/households.xlsx — one sheet per village, §9 columns and 状态, masking."""

import io

import openpyxl

from services.registry.bulk.columns import COLUMNS
from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE, household, member
from tests.registry.test_import import count, imported

URL = "/api/v1/exports/households.xlsx"
HEADER = [c.label for c in COLUMNS] + ["状态"]


def sheets(content: bytes, *, monitored: bool = False) -> dict[str, list[tuple]]:
    """The village sheets (and, with ``monitored``, the last one: 监测对象, tested in test_monitoring_export.py)."""
    wb = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    assert wb.worksheets[-1].title == "监测对象"
    kept = wb.worksheets if monitored else wb.worksheets[:-1]
    return {ws.title: [r for r in ws.iter_rows(values_only=True)] for ws in kept}


async def three_households(create) -> list[dict]:
    a = await create(household(VILLAGE, members=[member("head", name="马建国"), member("spouse", name="李秀兰"),
                                                 member("son", name="马小军", in_school=True)]))
    b = await create(household(VILLAGE, members=[member("head", name="王福")], attribute="tekun",
                               main_cause="disability", other_causes=[], phone=None))
    c = await create(household(OTHER_VILLAGE, members=[member("head", name="=HYPERLINK(\"x\")"),
                                                       member("daughter", name="张兰")]))
    return [a, b, c]


async def test_one_sheet_per_village_with_full_id_numbers_for_cadres(registry, token, create, settings):
    a, b, c = await three_households(create)
    r = await registry.get(URL, headers=auth(token()))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in r.headers["content-disposition"]
    book = sheets(r.content)
    assert list(book) == ["欣荣村", "银河村"]
    xin = book["欣荣村"]
    assert "欣荣村" in xin[0][0] and "完整信息" in xin[0][0]
    assert list(xin[1]) == HEADER
    body = xin[2:]
    # households in order, each head first, then the members in the order the household view shows them
    assert [row[8] for row in body] == [m["name"] for m in a["members"]] + ["王福"]
    assert body[0][8] == "马建国"
    first = dict(zip(HEADER, body[0], strict=True))
    assert first["户编号"] == a["household_no"] and first["村代码"] == VILLAGE and first["身份证号"] == \
        a["members"][0]["id_number"]
    assert (first["贫困户属性"], first["主要致贫原因"], first["其他致贫原因"], first["与户主关系"], first["状态"]) == (
        "低保贫困户", "因病", "缺技术", "户主", "识别中")
    assert first["联系电话"] == "13951234567" and first["识别年度"] == 2016
    assert {row[8]: row[14] for row in body}["马小军"] == "是"
    wang = dict(zip(HEADER, body[3], strict=True))
    assert wang["联系电话"] is None and wang["贫困户属性"] == "特困供养贫困户" and wang["户编号"] == b["household_no"]
    # a name that looks like a formula stays text
    yin = book["银河村"][2:]
    assert yin[0][8] == '=HYPERLINK("x")'
    # revealing full ID numbers is recorded: who, which households, through which endpoint
    assert await count(settings, "SELECT count(*) FROM pii_access_log WHERE endpoint = 'GET " + URL + "'") == 1
    ids = await count(settings, "SELECT household_ids FROM pii_access_log WHERE endpoint = 'GET " + URL + "'")
    assert sorted(ids) == sorted([a["id"], b["id"], c["id"]])


async def test_finance_officer_gets_masked_numbers_and_no_access_log(registry, token, create, settings):
    a, _, _ = await three_households(create)
    r = await registry.get(URL, headers=auth(token("finance_officer")))
    assert r.status_code == 200, r.text
    xin = sheets(r.content)["欣荣村"]
    assert "已脱敏" in xin[0][0]
    first = dict(zip(HEADER, xin[2], strict=True))
    full = a["members"][0]["id_number"]
    assert first["身份证号"] == full[:6] + "********" + full[-4:]
    assert first["联系电话"] == "139****4567"
    assert await count(settings, "SELECT count(*) FROM pii_access_log WHERE endpoint = 'GET " + URL + "'") == 0


async def test_region_narrows_and_scope_holds(registry, token, create):
    await three_households(create)
    r = await registry.get(f"{URL}?region={TOWNSHIP}", headers=auth(token("township_officer", TOWNSHIP)))
    assert r.status_code == 200 and list(sheets(r.content)) == ["欣荣村"]
    for region, tok in ((TOWNSHIP, token("township_officer", OTHER_TOWNSHIP)), ("640122100999", token()),
                        ("640121000000", token())):
        r = await registry.get(f"{URL}?region={region}", headers=auth(tok))
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert (await registry.get(f"{URL}?region=12", headers=auth(token()))).status_code == 422
    assert (await registry.get(URL, headers=auth(token("bank")))).status_code == 403
    empty = await registry.get(f"{URL}?region={OTHER_TOWNSHIP}", headers=auth(token()))
    assert list(sheets(empty.content)) == ["银河村"]


async def test_an_exported_workbook_imports_again_as_nothing_new(registry, token, create, settings):
    await three_households(create)
    admin = auth(token())
    exported = (await registry.get(URL, headers=admin)).content
    result = await imported(registry, settings, exported, "村有册.xlsx", admin)
    assert result["status"] == "done", result
    # the formula-looking name is refused on the way in, so its household is reported; the others match
    assert result["summary"]["households_created"] == 0 and result["summary"]["households_matched"] == 2
    assert {e["sheet"] for e in result["errors"]} == {"银河村"}
    assert await count(settings, "SELECT count(*) FROM household") == 3


async def test_a_region_larger_than_one_fetch_comes_out_whole(registry, token, create, monkeypatch):
    """The rows come from a cursor a few at a time: sheets and households that span fetches come out as one."""
    from services.registry.bulk import export
    await three_households(create)
    whole = sheets((await registry.get(URL, headers=auth(token()))).content)
    monkeypatch.setattr(export, "FETCH_ROWS", 2)
    pieces = sheets((await registry.get(URL, headers=auth(token()))).content)
    assert pieces == whole
    assert [len(rows) - 2 for rows in pieces.values()] == [4, 2]      # under the title and header rows


async def test_a_control_character_stored_before_the_text_rule_does_not_stop_the_export(registry, token, create,
                                                                                         settings):
    a = await create(household(VILLAGE, members=[member("head", name="马建国")]))
    await count(settings, f"UPDATE household SET address = 'a' || chr(31) || 'b' WHERE id = {a['id']} RETURNING 1")
    r = await registry.get(URL, headers=auth(token()))
    assert r.status_code == 200, r.text
    row = dict(zip(HEADER, sheets(r.content)["欣荣村"][2], strict=True))
    assert row["地址"] == "a\ufffdb"
