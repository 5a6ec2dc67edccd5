"""Funds per purpose of a region (``GET /api/v1/stats/funds/{code}``): allocated, committed, spent, available and
idle (滞留滞拨, counted as the alerts count it), in the caller's region only."""

from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.funds.test_alerts import allocate, alerts, backdate_allocation, propose
from tests.funds.test_disbursements import apps  # noqa: F401  (fixture)

FINANCE = {"role": "finance_officer", "sub": "u-finance"}


async def fund_stats(funds, token, code: str, query: str = "", **who):
    return await funds.get(f"/api/v1/stats/funds/{code}{query}", headers=auth(token(**who)))


def by_purpose(body: dict) -> dict[str, dict]:
    return {p["purpose"]: p for p in body["purposes"]}


async def test_per_purpose_figures_with_idle_money_as_the_alerts_list_it(apps, token, funds_db):  # noqa: F811
    funds = apps["funds"]
    industry = await allocate(funds, token, TOWNSHIP, amount="50000.00", doc_no="贺财〔2020〕1号")
    idle = await allocate(funds, token, OTHER_TOWNSHIP, amount="8000.00", purpose="education",
                          doc_no="贺财〔2020〕2号")
    await allocate(funds, token, COUNTY, amount="3000.00", purpose="education", doc_no="贺财〔2020〕3号")
    await backdate_allocation(funds_db, idle, 120)
    p = await propose(apps, token)
    for action in ("approve", "start"):
        r = await funds.post(f"/api/v1/projects/{p}/transitions", headers=auth(token()), json={"action": action})
        assert r.status_code == 200, r.text
    r = await funds.post(f"/api/v1/projects/{p}/fundings", headers=auth(token(**FINANCE)),
                         json={"allocation_id": industry, "amount": "20000.00"})
    assert r.status_code == 201, r.text
    r = await funds.post(f"/api/v1/projects/{p}/payments", headers=auth(token(**FINANCE)),
                         json={"amount": "6000.00", "payee": "贺兰县建工公司", "stage": "advance"})
    assert r.status_code == 201, r.text

    r = await fund_stats(funds, token, COUNTY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["purpose"] for p in body["purposes"]][:3] == ["industry", "infrastructure", "relocation"]
    figures = by_purpose(body)
    assert {k: figures["industry"][k] for k in ("purpose_label", "allocations", "allocated", "committed", "spent",
                                                "available", "idle", "idle_allocations")} == {
        "purpose_label": "产业发展", "allocations": 1, "allocated": "50000.00", "committed": "14000.00",
        "spent": "6000.00", "available": "30000.00", "idle": "0.00", "idle_allocations": 0}
    assert (figures["education"]["allocated"], figures["education"]["idle"], figures["education"]["idle_allocations"]
            ) == ("11000.00", "8000.00", 1)
    assert figures["housing"]["allocated"] == "0.00" and figures["housing"]["allocations"] == 0
    assert body["total"] == {"allocations": 3, "allocated": "61000.00", "committed": "14000.00", "spent": "6000.00",
                             "available": "41000.00", "idle": "8000.00", "idle_allocations": 1}
    assert body["idle_days"] == 90 and body["year"] is None
    listed = [i for i in await alerts(funds, token) if i["kind"] == "idle_allocation"]
    assert [i["entity_id"] for i in listed] == [idle]

    township = {"role": "township_officer", "region": TOWNSHIP, "sub": "u-town"}
    mine = (await fund_stats(funds, token, TOWNSHIP, **township)).json()
    assert mine["total"]["allocated"] == "50000.00" and mine["total"]["idle"] == "0.00"
    assert (await fund_stats(funds, token, OTHER_TOWNSHIP, **township)).status_code == 404
    assert (await fund_stats(funds, token, COUNTY, **township)).status_code == 404
    assert (await fund_stats(funds, token, OTHER_TOWNSHIP)).json()["total"]["idle"] == "8000.00"


async def test_year_roles_and_bad_codes(apps, token):  # noqa: F811
    funds = apps["funds"]
    await allocate(funds, token, TOWNSHIP, amount="1000.00")
    assert (await fund_stats(funds, token, COUNTY, "?year=2020")).json()["total"]["allocated"] == "1000.00"
    assert (await fund_stats(funds, token, COUNTY, "?year=2021")).json()["total"]["allocated"] == "0.00"
    assert (await fund_stats(funds, token, COUNTY, "?year=1900")).status_code == 422
    for code in ("64012210000", "6401221000001", "abcdefghijkl"):
        r = await fund_stats(funds, token, code)
        assert r.status_code in (404, 422) and r.headers["content-type"].startswith("application/problem+json")
    assert (await fund_stats(funds, token, VILLAGE, role="helper", region=VILLAGE, sub="u-h")).status_code == 403
    assert (await fund_stats(funds, token, COUNTY, role="auditor", sub="u-aud")).status_code == 200
    assert (await funds.get(f"/api/v1/stats/funds/{COUNTY}")).status_code == 401
