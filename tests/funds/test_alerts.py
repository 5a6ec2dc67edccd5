"""滞留滞拨 (CONTRACT §5): money idle more than JINGZHUN_IDLE_DAYS (90) days and projects held in one stage more
than JINGZHUN_STAGE_DAYS (60), at their edges, in the caller's region only; the daily event, once per county."""

import asyncio
import json

import asyncpg
import pytest
from alembic import command

from services.funds.alerts.jobs import daily_alerts
from shared.db import Database, asyncpg_dsn, database_name, ensure_database
from shared.migrations import alembic_config
from shared.testing import auth, seal_chain
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.funds.test_disbursements import apps  # noqa: F401  (fixture)
from tests.registry.conftest import OTHER_VILLAGE, new_id

OTHER_COUNTY = "640121000000"       # 永宁县


async def allocate(funds, token, where: str, amount: str = "10000.00", purpose: str = "industry",
                   doc_no: str = "贺财〔2020〕12号", **who) -> int:
    source = await funds.post("/api/v1/fund-sources", headers=auth(token(**who)), json={
        "name": "2020年中央财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕1号", "year": 2020})
    assert source.status_code == 201, source.text
    r = await funds.post("/api/v1/allocations", headers=auth(token(**who)), json={
        "source_id": source.json()["id"], "region_code": where, "purpose": purpose, "amount": amount,
        "year": 2020, "doc_no": doc_no})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def backdate_allocation(db, allocation_id: int, days: int) -> None:
    """The allocation and its 下达 entry as if made ``days`` days ago (the ledger is append-only: the test data is
    set with the triggers off, as a restore from a backup would)."""
    await db.execute("UPDATE allocation SET created_at = now() - make_interval(days => $2) WHERE id = $1",
                     allocation_id, days)
    await backdate_entries(db, f"allocation:{allocation_id}", days)


async def backdate_entries(db, ref: str, days: int) -> None:
    async with db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        await db.execute("UPDATE ledger_entry SET at = now() - make_interval(days => $2) WHERE ref = $1", ref, days)


async def propose(apps, token, village: str = VILLAGE, name: str = "欣荣村肉牛养殖基地") -> int:  # noqa: F811
    r = await apps["funds"].post("/api/v1/projects", headers=auth(token()), json={
        "name": name, "purpose": "industry", "village_code": village, "budget": "30000.00",
        "beneficiary_household_ids": []})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def alerts(funds, token, **params) -> list[dict]:
    who = {k: params.pop(k) for k in ("role", "region", "sub") if k in params}
    r = await funds.get("/api/v1/alerts", params=params, headers=auth(token(**who)))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_money_idle_more_than_90_days_is_an_alert_at_91_not_at_90(apps, token, funds_db):  # noqa: F811
    funds = apps["funds"]
    ids = {}
    for days in (89, 90, 91):
        ids[days] = await allocate(funds, token, TOWNSHIP, amount=f"{days}00.00", doc_no=f"贺财〔2020〕{days}号")
        await backdate_allocation(funds_db, ids[days], days)
    items = await alerts(funds, token)
    assert [(i["kind"], i["entity"], i["entity_id"], i["days"]) for i in items] == [
        ("idle_allocation", "allocation", ids[91], 91)]
    [idle] = items
    assert idle["kind_label"] == "资金滞留" and idle["region_code"] == TOWNSHIP
    assert "9100.00 元" in idle["detail"] and "91 天" in idle["detail"] and "贺财〔2020〕91号" in idle["detail"]
    assert "产业发展" in idle["detail"]


async def test_drawing_on_the_money_restarts_the_count_and_spent_money_is_never_idle(apps, token, funds_db):  # noqa: F811
    funds = apps["funds"]
    drawn = await allocate(funds, token, TOWNSHIP, doc_no="贺财〔2020〕1号")
    used_up = await allocate(funds, token, TOWNSHIP, amount="5000.00", doc_no="贺财〔2020〕2号")
    p = await propose(apps, token)
    assert (await funds.post(f"/api/v1/projects/{p}/transitions", headers=auth(token()),
                             json={"action": "approve"})).status_code == 200
    for allocation, amount in ((drawn, "2000.00"), (used_up, "5000.00")):
        r = await funds.post(f"/api/v1/projects/{p}/fundings", headers=auth(token()),
                             json={"allocation_id": allocation, "amount": amount})
        assert r.status_code == 201, r.text
    for allocation in (drawn, used_up):
        await backdate_allocation(funds_db, allocation, 200)
    assert [i["entity"] for i in await alerts(funds, token)] == []     # drawn on today; nothing left to idle

    await backdate_entries(funds_db, f"project:{p}", 95)               # the commitment was 95 days ago
    [item] = await alerts(funds, token)
    assert (item["entity_id"], item["days"]) == (drawn, 95) and "8000.00 元" in item["detail"]


async def test_a_project_held_in_one_stage_more_than_60_days(apps, token, funds_db):  # noqa: F811
    funds = apps["funds"]
    at_60, at_61 = await propose(apps, token, name="六十天项目"), await propose(apps, token, name="六十一天项目")
    settled, cancelled, rejected = [await propose(apps, token, name=n) for n in ("已报账项目", "已取消项目", "已驳回项目")]
    for pid, days in ((at_60, 60), (at_61, 61)):
        await funds_db.execute("UPDATE project SET status_since = now() - make_interval(days => $2) WHERE id = $1",
                               pid, days)
    for pid, status in ((settled, "settled"), (cancelled, "cancelled"), (rejected, "rejected")):
        await funds_db.execute("UPDATE project SET status = $2, status_since = now() - interval '400 days' "
                               "WHERE id = $1", pid, status)
    items = await alerts(funds, token)
    assert [(i["kind"], i["entity"], i["entity_id"], i["days"]) for i in items] == [
        ("stale_project", "project", at_61, 61)]
    assert items[0]["kind_label"] == "项目滞拨" and "六十一天项目" in items[0]["detail"]
    assert "「申报」阶段" in items[0]["detail"] and "61 天" in items[0]["detail"]

    r = await funds.post(f"/api/v1/projects/{at_61}/transitions", headers=auth(token()), json={"action": "approve"})
    assert r.status_code == 200                                          # a new stage: the count starts again
    assert await alerts(funds, token) == []
    assert await funds_db.fetchval("SELECT now() - status_since < interval '1 minute' FROM project WHERE id = $1",
                                   at_61)


async def test_alerts_are_of_the_callers_region_only(apps, token, funds_db):  # noqa: F811
    funds = apps["funds"]
    here = await allocate(funds, token, TOWNSHIP)
    there = await allocate(funds, token, OTHER_TOWNSHIP)
    project_there = await propose(apps, token, village=OTHER_VILLAGE)
    for allocation in (here, there):
        await backdate_allocation(funds_db, allocation, 120)
    await funds_db.execute("UPDATE project SET status_since = now() - interval '70 days' WHERE id = $1", project_there)

    assert {(i["entity"], i["entity_id"]) for i in await alerts(funds, token)} == {
        ("allocation", here), ("allocation", there), ("project", project_there)}
    township = {"role": "township_officer", "region": TOWNSHIP, "sub": "u-township"}
    assert [i["entity_id"] for i in await alerts(funds, token, **township)] == [here]
    assert [i["entity_id"] for i in await alerts(funds, token, region=OTHER_TOWNSHIP)] == [there, project_there]
    r = await funds.get("/api/v1/alerts", params={"region": OTHER_TOWNSHIP}, headers=auth(token(**township)))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = await funds.get("/api/v1/alerts", headers=auth(token(role="helper", region=VILLAGE, sub="u-helper")))
    assert r.status_code == 403
    r = await funds.get("/api/v1/alerts", params={"region": "64012210000"}, headers=auth(token()))
    assert r.status_code == 422


async def test_alerts_page_with_a_cursor(apps, token, funds_db):  # noqa: F811
    funds = apps["funds"]
    made = []
    for n in range(5):
        made.append(await allocate(funds, token, TOWNSHIP, doc_no=f"贺财〔2020〕{n + 1}号"))
        await backdate_allocation(funds_db, made[-1], 150 - n)       # oldest first
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await funds.get("/api/v1/alerts", params=params, headers=auth(token()))).json()
        seen += [i["entity_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    forged = await funds.get("/api/v1/alerts", params={"cursor": "eyJpZCI6MX0"}, headers=auth(token()))
    assert forged.status_code == 400


@pytest.fixture
async def two_counties(apps, token, funds_db):  # noqa: F811
    """Idle money and a stale project in 贺兰县, idle money in 永宁县."""
    r = await apps["registry"].post("/api/v1/regions", headers=auth(token(region=OTHER_COUNTY, sub="u-yongning")),
                                    json={"code": OTHER_COUNTY, "name": "永宁县", "rural_population": 500})
    assert r.status_code == 201, r.text
    ours = await allocate(apps["funds"], token, TOWNSHIP)
    theirs = await allocate(apps["funds"], token, OTHER_COUNTY, region=OTHER_COUNTY, sub="u-yongning")
    stale = await propose(apps, token)
    for allocation in (ours, theirs):
        await backdate_allocation(funds_db, allocation, 100)
    await funds_db.execute("UPDATE project SET status_since = now() - interval '61 days' WHERE id = $1", stale)
    return {"ours": ours, "theirs": theirs, "stale": stale}


def job_ctx(apps, settings, db) -> dict:  # noqa: F811
    """What the funds worker gives its jobs: its database, settings, and a ServiceClient wired to the registry."""
    return {"db": db, "settings": settings, "services": apps["funds"].app.state.services}


async def test_the_daily_event_once_per_county_even_when_the_cron_runs_twice(settings, apps, two_counties,  # noqa: F811
                                                                              funds_db):
    db = Database(settings, "funds")
    try:
        ctx = job_ctx(apps, settings, db)
        runs = await asyncio.gather(daily_alerts(dict(ctx)), daily_alerts(dict(ctx)))     # two workers at once
        again = await daily_alerts(dict(ctx))                                              # the next hour
    finally:
        await db.close()
    assert sorted(c for r in runs for c in r["counties"]) == [OTHER_COUNTY, COUNTY] and again["counties"] == []
    rows = await funds_db.fetch("SELECT destinations, payload FROM outbox WHERE topic = 'funds.alerts' ORDER BY id")
    events = {json.loads(r["payload"])["region_code"]: json.loads(r["payload"]) for r in rows}
    assert len(rows) == 2 and set(events) == {COUNTY, OTHER_COUNTY}
    assert all(list(r["destinations"]) == ["notifications"] for r in rows)
    ours = events[COUNTY]
    as_of = await funds_db.fetchval("SELECT CAST(timezone('Asia/Shanghai', now()) AS date)")
    assert set(ours) == {"region_code", "as_of", "counts", "items"} and ours["as_of"] == as_of.isoformat()
    assert ours["counts"] == {"idle_allocation": 1, "stale_project": 1}
    assert [(i["kind"], i["entity_id"]) for i in ours["items"]] == [
        ("idle_allocation", two_counties["ours"]), ("stale_project", two_counties["stale"])]
    assert all(set(i) == {"kind", "entity", "entity_id", "since", "detail"} for i in ours["items"])
    assert events[OTHER_COUNTY]["counts"] == {"idle_allocation": 1}
    await seal_chain(settings, "funds")
    audit = await funds_db.fetch("SELECT entity_id FROM audit_log WHERE action = 'alerts.daily' ORDER BY entity_id")
    assert [a["entity_id"] for a in audit] == [OTHER_COUNTY, COUNTY]


async def test_the_daily_event_lists_20_of_many_and_counts_them_all(settings, apps, token, funds_db):  # noqa: F811
    for n in range(23):
        allocation = await allocate(apps["funds"], token, TOWNSHIP, doc_no=f"贺财〔2020〕{n + 1}号")
        await backdate_allocation(funds_db, allocation, 100 + n)
    db = Database(settings, "funds")
    try:
        await daily_alerts(job_ctx(apps, settings, db))
    finally:
        await db.close()
    [row] = await funds_db.fetch("SELECT payload FROM outbox WHERE topic = 'funds.alerts'")
    event = json.loads(row["payload"])
    assert event["counts"] == {"idle_allocation": 23} and len(event["items"]) == 20
    assert "122 天" in event["items"][0]["detail"]                       # the oldest first


def test_the_worker_runs_the_alerts_every_hour_and_at_start(settings):
    from services.funds.worker import settings as worker_settings
    [cron] = [c for c in worker_settings(settings)["cron_jobs"] if c.name == "cron:daily_alerts"]
    assert cron.run_at_startup and cron.minute == {0}


def test_projects_made_before_the_column_start_their_stage_at_their_last_transition(servers):
    """The migration fills ``status_since`` from the audit chain's last transition, else the proposal."""
    settings = servers.settings(db_prefix=f"jzmig{id(servers) % 100000}_")
    cfg = alembic_config(settings, "funds")

    async def run(sql: str, *args):
        conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def drop():
        conn = await asyncpg.connect(asyncpg_dsn(settings, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(settings, "funds")}" WITH (FORCE)')
        finally:
            await conn.close()

    try:
        asyncio.run(ensure_database(settings, "funds"))
        command.upgrade(cfg, "bf38cb572d0c")
        asyncio.run(run(
            "INSERT INTO project (name, purpose, village_code, budget, beneficiary_household_ids, status, proposed_by, "
            "created_at) VALUES ('甲', 'industry', $1, 100, '{}', 'in_progress', 'u', '2024-03-01T00:00:00+08'), "
            "('乙', 'industry', $1, 100, '{}', 'proposed', 'u', '2024-05-01T00:00:00+08')", VILLAGE))
        asyncio.run(run(
            "INSERT INTO audit_log (seq, at, actor, action, entity, entity_id, diff, prev_hash, hash) VALUES "
            "(1, '2024-03-10T00:00:00+08', 'u', 'project.approve', 'project', '1', '{}', '', ''), "
            "(2, '2024-04-02T00:00:00+08', 'u', 'project.start', 'project', '1', '{}', '', ''), "
            "(3, '2024-04-05T00:00:00+08', 'u', 'project.fund', 'project', '1', '{}', '', '')"))
        command.upgrade(cfg, "ccea66f22c2d")
        rows = asyncio.run(run("SELECT name, to_char(status_since AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS d "
                               "FROM project ORDER BY id"))
        assert [(r["name"], r["d"]) for r in rows] == [("甲", "2024-04-02"), ("乙", "2024-05-01")]
    finally:
        asyncio.run(drop())


async def test_a_report_open_more_than_two_days_is_an_alert_and_in_the_daily_event(settings, apps, token,  # noqa: F811
                                                                                 funds_db):
    from datetime import UTC, datetime, timedelta

    from services.registry.monitoring import clock
    body = {"name": "马建国", "id_number": new_id(), "phone": "13951234567", "village_code": VILLAGE,
            "description": "家中突发变故"}
    real = clock.now
    try:
        clock.now = lambda: datetime.now(UTC) - timedelta(days=3)            # the report came in three days ago
        r = await apps["registry"].post("/public/monitoring/reports", json=body,
                                        headers={"X-Forwarded-For": "198.51.100.77"})
        assert r.status_code == 202, r.text
    finally:
        clock.now = real
    r = await apps["registry"].post("/public/monitoring/reports", json=body | {"description": "又一户"},
                                    headers={"X-Forwarded-For": "198.51.100.78"})
    assert r.status_code == 202                                                # today's: not overdue yet
    [alert] = await alerts(apps["funds"], token)
    assert (alert["kind"], alert["kind_label"], alert["entity"], alert["days"]) == (
        "overdue_report", "申报逾期未处理", "monitoring_report", 3)
    assert "3 天" in alert["detail"] and alert["region_code"] == VILLAGE
    theirs = await apps["funds"].get("/api/v1/alerts", headers=auth(token("township_officer", OTHER_TOWNSHIP)))
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    db = Database(settings, "funds")
    try:
        assert (await daily_alerts(job_ctx(apps, settings, db)))["counties"] == [COUNTY]
    finally:
        await db.close()
    [row] = await funds_db.fetch("SELECT payload FROM outbox WHERE topic = 'funds.alerts'")
    event = json.loads(row["payload"])
    assert event["counts"] == {"overdue_report": 1} and event["items"][0]["kind"] == "overdue_report"
