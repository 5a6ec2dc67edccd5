"""村有册 export: the last sheet lists the region's monitored households with their case."""

from tests.conftest import TOWNSHIP
from tests.registry.conftest import OTHER_VILLAGE
from tests.registry.monitoring import cadre, county, new_household, officer, report, sql
from tests.registry.test_export import URL, sheets


async def test_the_monitored_sheet_lists_approved_open_cases_only(stack, token, settings):
    ids = {}
    for name, village, status, category in (("approved", None, "exited", "unstable"),
                                            ("reported", None, "ordinary", "marginal"),
                                            ("eliminated", None, "ordinary", "marginal"),
                                            ("far", OTHER_VILLAGE, "ordinary", "sudden")):
        kw = {"village": village} if village else {}
        h = await new_household(stack.registry, token, status=status, settings=settings, **kw)
        r = await report(stack.registry, token, h["id"], headers=cadre(token, village) if village else None,
                         category=category)
        ids[name] = r.json()
    for name, status in (("approved", "approved"), ("eliminated", "eliminated"), ("far", "approved")):
        await sql(settings, "UPDATE monitoring_case SET status = :s, approved_at = '2024-03-01 09:00+08' "
                            "WHERE id = :c", s=status, c=ids[name]["id"])
    book = sheets((await stack.registry.get(URL, headers=county(token))).content, monitored=True)
    rows = book["监测对象"]
    assert rows[1] == ("监测编号", "户号", "户主姓名", "村", "监测类型", "风险类型", "监测状态", "纳入监测日期")
    approved = ids["approved"]
    assert rows[2:] == [
        (approved["case_no"], approved["household_no"], "马建国", "欣荣村", "脱贫不稳定户", "因病、因务工就业不稳", "县级审批",
         "2024-03-01"),
        (ids["far"]["case_no"], ids["far"]["household_no"], "马建国", "银河村", "突发严重困难户", "因病、因务工就业不稳",
         "县级审批", "2024-03-01")]
    mine = sheets((await stack.registry.get(f"{URL}?region={TOWNSHIP}", headers=officer(token))).content,
                  monitored=True)
    assert [r[0] for r in mine["监测对象"][2:]] == [approved["case_no"]]
