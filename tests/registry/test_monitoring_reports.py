"""一码申报 (CONTRACT §11): the public page and post answer alike whatever the ID number and echo nothing; reports
are stored encrypted, matched to the registry person, listed for the township's officers (overdue after 2 days),
scoped, and dismissed with a reason in the audit chain."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.registry.monitoring import clock
from services.registry.monitoring.reports import repository
from shared.db import Database
from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE, household, member, new_id
from tests.registry.test_import import count

_addresses = itertools.count(1)


def address() -> dict[str, str]:
    """A public client address of the test's own (the limiter counts per address; the gateway forwards it)."""
    n = next(_addresses)
    return {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250 + 1}"}


def report(id_number: str, **kw) -> dict:
    return {"name": "马建国", "id_number": id_number, "phone": "13951234567", "village_code": VILLAGE,
            "description": "妻子突发重病住院，自付医疗费用约五万元，家中无其他收入来源。"} | kw


async def post(registry, body: dict, headers: dict | None = None):
    return await registry.post("/public/monitoring/reports", json=body, headers=headers or address())


@pytest.fixture
def at(monkeypatch):
    """Set the monitoring clock: ``at(datetime)``."""
    def set_(when: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: when)
    return set_


VOLATILE = {"date", "x-request-id", "server-timing"}


async def test_a_known_and_an_unknown_id_number_get_the_same_answer_and_nothing_is_echoed(registry, token, create,
                                                                                            settings):
    known = new_id()
    h = await create(household(members=[member("head", id_number=known, name="马建国")]))
    unknown = new_id()
    a = await post(registry, report(known))
    b = await post(registry, report(unknown))
    assert a.status_code == b.status_code == 202
    assert a.json().keys() == b.json().keys() == {"received", "reference"}
    assert a.json()["received"] is True and a.json()["reference"] != b.json()["reference"]
    assert len(a.json()["reference"]) == len(b.json()["reference"])
    strip = lambda r: {k: v for k, v in r.headers.items() if k not in VOLATILE}  # noqa: E731
    assert strip(a) == strip(b)                           # content-length and type too
    for r, idn in ((a, known), (b, unknown)):
        for secret in (idn, idn[-4:] + "", "马建国", "13951234567", "5678", VILLAGE):
            assert secret not in r.text
    # officers see both; the known one is matched to its household, the other is not
    r = await registry.get("/api/v1/monitoring/reports", headers=auth(token("township_officer", TOWNSHIP)))
    items = {i["id_number"]: i for i in r.json()["items"]}
    assert items[known]["household_id"] == h["id"] and items[unknown]["household_id"] is None
    assert {i["status"] for i in items.values()} == {"open"} and items[known]["phone"] == "13951234567"
    # the full ID numbers shown are recorded in the personal-data access log (for the registry person's household)
    logged = await count(settings, "SELECT household_ids FROM pii_access_log WHERE endpoint LIKE '%monitoring/reports'")
    assert logged == [h["id"]]


async def test_stored_encrypted_and_the_event_carries_no_id_number(registry, regions, settings):
    idn = new_id()
    assert (await post(registry, report(idn))).status_code == 202
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            row = (await s.execute(text("SELECT * FROM monitoring_report"))).mappings().one()
            (event,) = (await s.execute(text("SELECT topic, payload, destinations FROM outbox "
                                             "WHERE topic = 'monitoring_report.created'"))).all()
    finally:
        await db.close()
    assert idn.encode() not in bytes(row["id_enc"]) and b"13951234567" not in bytes(row["phone_enc"])
    assert row["id_masked"] == idn[:6] + "********" + idn[-4:] and row["phone_masked"] == "139****4567"
    assert event.destinations == ["notifications"]
    payload = json.dumps(event.payload, ensure_ascii=False)
    assert idn not in payload and "13951234567" not in payload
    assert event.payload["village_code"] == VILLAGE and event.payload["village_name"] == "欣荣村"


@pytest.mark.parametrize("field,value", [("id_number", "640122196001011234"), ("id_number", "12345"),
                                         ("village_code", "640122100999"), ("village_code", TOWNSHIP),
                                         ("phone", "12345"), ("description", "")])
async def test_a_bad_field_is_a_422_problem_that_echoes_nothing(registry, regions, field, value):
    body = report(new_id()) | {field: value}
    r = await post(registry, body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert body["id_number"] not in r.text and "13951234567" not in r.text and "马建国" not in r.text


async def test_rate_limited_per_address(registry, regions):
    headers = address()
    for _ in range(4):
        assert (await post(registry, report(new_id()), headers)).status_code == 202
    assert (await post(registry, {"name": ""}, headers)).status_code == 422        # malformed attempts count too
    r = await post(registry, report(new_id()), headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert (await post(registry, report(new_id()))).status_code == 202            # another address is not held


async def test_the_page_is_plain_chinese_html_and_its_form_post_answers_a_receipt(registry, regions):
    r = await registry.get(f"/public/monitoring/report?village={VILLAGE}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "一码申报" in r.text and "欣荣村" in r.text and 'name="id_number"' in r.text
    assert "<script" not in r.text and "http" not in r.text.split("<body>", 1)[1]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    idn = new_id()
    form = report(idn)
    r = await registry.post("/public/monitoring/reports", data=form, headers=address())
    assert r.status_code == 202 and "回执编号" in r.text and idn not in r.text and "13951234567" not in r.text
    r = await registry.post("/public/monitoring/reports", data=form | {"id_number": "123"}, headers=address())
    assert r.status_code == 422 and "身份证号" in r.text and "123" not in r.text.split("<main>", 1)[1]


async def test_overdue_after_two_days_not_at_two_days_less_a_minute(registry, token, regions, settings, at):
    t0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    at(t0)
    assert (await post(registry, report(new_id()))).status_code == 202
    officer = auth(token("township_officer", TOWNSHIP))

    async def overdue(now):
        at(now)
        (item,) = (await registry.get("/api/v1/monitoring/reports", headers=officer)).json()["items"]
        stats = (await registry.get(f"/api/v1/stats/monitoring/{COUNTY}", headers=auth(token()))).json()
        children = {c["code"]: c["overdue_reports"] for c in stats["children"]}
        assert children[OTHER_TOWNSHIP] == 0                               # the report is in TOWNSHIP
        assert stats["overdue_reports"] == children[TOWNSHIP] == int(item["overdue"])
        return item["overdue"]

    assert await overdue(t0 + timedelta(days=2) - timedelta(minutes=1)) is False
    assert await overdue(t0 + timedelta(days=2, minutes=1)) is True
    r = await registry.get("/api/v1/monitoring/reports?status=open", headers=officer)
    rid = r.json()["items"][0]["id"]
    await registry.post(f"/api/v1/monitoring/reports/{rid}/dismiss", json={"reason": "已核实，无困难"}, headers=officer)
    assert await overdue(t0 + timedelta(days=3)) is False                       # acted on: no longer overdue


async def test_another_townships_report_is_404_and_absent(registry, token, regions):
    assert (await post(registry, report(new_id()))).status_code == 202
    assert (await post(registry, report(new_id(), village_code=OTHER_VILLAGE))).status_code == 202
    mine = auth(token("township_officer", TOWNSHIP))
    far = auth(token("township_officer", OTHER_TOWNSHIP))
    (item,) = (await registry.get("/api/v1/monitoring/reports", headers=mine)).json()["items"]
    assert item["village_code"] == VILLAGE
    (other,) = (await registry.get("/api/v1/monitoring/reports", headers=far)).json()["items"]
    assert (await registry.get(f"/api/v1/monitoring/reports/{item['id']}", headers=far)).status_code == 404
    assert (await registry.get(f"/api/v1/monitoring/reports/{other['id']}", headers=mine)).status_code == 404
    r = await registry.post(f"/api/v1/monitoring/reports/{item['id']}/dismiss", json={"reason": "x"}, headers=far)
    assert r.status_code == 404
    r = await registry.get(f"/api/v1/monitoring/reports?region={OTHER_TOWNSHIP}", headers=mine)
    assert r.json()["items"] == []
    # an auditor of the county reads them with the ID number and phone masked
    r = await registry.get("/api/v1/monitoring/reports", headers=auth(token("auditor")))
    assert len(r.json()["items"]) == 2
    assert all("*" in i["id_number"] and "*" in i["phone"] for i in r.json()["items"])


async def test_dismissal_is_audited_and_only_once(registry, token, regions):
    assert (await post(registry, report(new_id()))).status_code == 202
    officer = auth(token("township_officer", TOWNSHIP, sub="u-town"))
    (item,) = (await registry.get("/api/v1/monitoring/reports", headers=officer)).json()["items"]
    url = f"/api/v1/monitoring/reports/{item['id']}/dismiss"
    assert (await registry.post(url, json={"reason": ""}, headers=officer)).status_code == 422
    cadre = auth(token("village_cadre", VILLAGE))
    assert (await registry.post(url, json={"reason": "x"}, headers=cadre)).status_code == 403
    r = await registry.post(url, json={"reason": "经入户核实，该户收入稳定，不符合监测条件"}, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dismissed" and r.json()["decided_by"] == "u-town" and r.json()["version"] == 2
    assert (await registry.post(url, json={"reason": "again"}, headers=officer)).status_code == 409
    r = await registry.get("/internal/audit/events?entity=monitoring_report",
                           headers=auth(token("service", "", sub="svc:funds")))
    events = r.json()["items"]
    assert [e["action"] for e in events] == ["monitoring_report.create", "monitoring_report.dismiss"]
    assert events[1]["actor"] == "u-town" and events[1]["diff"]["reason"] == "经入户核实，该户收入稳定，不符合监测条件"
    assert "*" in events[0]["diff"]["id_number"]


async def test_mark_case_opened_accepts_an_open_report_once(registry, token, regions, settings):
    assert (await post(registry, report(new_id()))).status_code == 202
    officer = auth(token("township_officer", TOWNSHIP))
    (item,) = (await registry.get("/api/v1/monitoring/reports", headers=officer)).json()["items"]
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            assert await repository.mark_case_opened(s, report_id=item["id"], case_id=77) is True
            assert await repository.mark_case_opened(s, report_id=item["id"], case_id=78) is False
            assert await repository.mark_case_opened(s, report_id=item["id"] + 1000, case_id=79) is False
            await s.commit()
    finally:
        await db.close()
    r = await registry.get(f"/api/v1/monitoring/reports/{item['id']}", headers=officer)
    assert r.json()["status"] == "accepted" and r.json()["case_id"] == 77 and r.json()["overdue"] is False

