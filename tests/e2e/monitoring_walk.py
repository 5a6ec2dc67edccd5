"""防返贫动态监测 end to end, through the gateway with the real workers: a villager's 一码申报 → the township's inbox →
a case accepting the report → 入户核实 → 评议公示 closed → 县级审批 (the helper's inbox, the head's SMS) → a help measure
→ six months later (the approval moved back in the test data) → 风险消除 proposed, publicized, approved."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import make_url

from jingzhun import demo
from jingzhun.datadir import read_state
from shared import idnumber

VILLAGE = "640122100201"            # 欣荣村, 洪广镇
YEAR = 2026


def _sql(data_dir: Path, statement: str, *args) -> None:
    """The test data's own change, in the running stack's embedded registry database."""
    url = make_url(read_state(data_dir)["database_url"]).set(drivername="postgresql", database="jingzhun_registry")

    async def run() -> None:
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()
    asyncio.run(run())


def monitoring_walk(client: httpx.Client, admin: dict[str, str], data_dir: Path, token, until) -> None:
    cadre = token(client, "xinrong", demo.DEMO_PASSWORD)
    officer = token(client, "hongguang", demo.DEMO_PASSWORD)
    helper = token(client, "helper_zhang", demo.DEMO_PASSWORD)
    head_id = idnumber.make("640122", date(1972, 3, 3), 951)
    r = client.post("/api/v1/households", headers=cadre, json={
        "village_code": VILLAGE, "status": "ordinary", "address": "宁夏回族自治区银川市贺兰县欣荣村5组8号",
        "phone": "13995105008", "attribute": "general", "main_cause": "illness", "identified_year": YEAR,
        "members": [{"name": "马建军", "id_number": head_id, "relation": "head", "health": "healthy", "labor": "normal",
                     "education": "junior_high", "in_school": False, "migrant_worker": False}]})
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    users = client.get("/api/v1/auth/users", params={"limit": 200}, headers=admin).json()["items"]
    helper_id = next(u["id"] for u in users if u["username"] == "helper_zhang")
    assert client.put(f"/api/v1/households/{hid}/helper", json={"user_id": helper_id}, headers=admin).status_code == 200
    r = client.put(f"/api/v1/monitoring/thresholds/{YEAR}", json={"region_code": "640122000000", "amount": "7000"},
                   headers=admin)
    assert r.status_code in (200, 201), r.text

    # the villager, on the public page, no login
    r = client.post("/public/monitoring/reports", json={
        "name": "马建军", "id_number": head_id, "phone": "13995105008", "village_code": VILLAGE,
        "description": "户主突发重病住院，自付医疗费用较高，家中收入骤减。"})
    assert r.status_code == 202 and set(r.json()) == {"received", "reference"}, r.text
    until("the township officer told of the report", lambda: any(
        m["kind"] == "monitoring_report.created"
        for m in client.get("/api/v1/me/notifications", headers=officer).json()["items"]))
    report = next(x for x in client.get("/api/v1/monitoring/reports", params={"status": "open"},
                                        headers=officer).json()["items"] if x["household_id"] == hid)

    r = client.post("/api/v1/monitoring/cases", headers=cadre, json={
        "household_id": hid, "category": "marginal", "risk_types": ["illness"], "source": "self_report",
        "description": report["description"], "year": YEAR, "report_id": report["id"]})
    assert r.status_code == 201, r.text
    case = r.json()
    url = f"/api/v1/monitoring/cases/{case['id']}/transitions"

    def income(wage: str) -> None:
        r = client.put(f"/api/v1/households/{hid}/incomes/{YEAR}", headers=cadre,
                       json={"wage": wage, "production": "0", "transfer": "0", "property": "0", "expenses": "0"})
        assert r.status_code in (200, 201), r.text

    income("5000")
    r = client.put(f"/api/v1/households/{hid}/assurances/{YEAR}", headers=cadre, json={
        "food": True, "clothing": True, "education": True, "medical": True, "housing": True, "water": True})
    assert r.status_code in (200, 201), r.text
    assert client.post(url, json={"action": "verify", "notes": "入户核实属实"}, headers=cadre).status_code == 200

    def publicized_and_approved(action: str, approver: dict[str, str], to: str) -> None:
        r = client.post(url, json={"action": action, "notes": "评议通过", "days": 0},
                        headers=officer if action == "publicize" else approver)
        assert r.status_code == 200, r.text
        notice = r.json()["notice_id"]
        assert client.get(f"/public/notices/{notice}").json()["kind"] == "monitoring"
        assert client.post(f"/api/v1/notices/{notice}/close", headers=admin).status_code == 200
        until(f"{to} after the 公示 closed", lambda: client.post(
            url, json={"action": "approve", "notes": "县级审批"}, headers=approver).status_code == 200)
        assert client.get(f"/api/v1/monitoring/cases/{case['id']}", headers=admin).json()["status"] == to

    publicized_and_approved("publicize", admin, "approved")
    until("the helper told of the approval", lambda: any(
        m["kind"] == "monitoring.case_approved"
        for m in client.get("/api/v1/me/notifications", headers=helper).json()["items"]))
    until("the head's SMS", lambda: client.get("/api/v1/notifications", params={
        "kind": "monitoring.case_approved"}, headers=admin).json()["items"])
    assert client.get(f"/api/v1/households/{hid}", headers=admin).json()["monitoring_case"]["status"] == "approved"

    r = client.post(f"/api/v1/households/{hid}/measures", headers=cadre, json={
        "batch": "social_security", "kind": "医疗救助", "description": "大病医疗二次报销", "year": YEAR})
    assert r.status_code == 201, r.text
    income("9000")
    early = client.post(url, json={"action": "propose_elimination", "notes": "收入恢复"}, headers=admin)
    assert early.status_code == 409 and "too_soon" in early.text, early.text
    _sql(data_dir, "UPDATE monitoring_case SET approved_at = approved_at - interval '6 months 1 day' WHERE id = $1",
         case["id"])
    publicized_and_approved("propose_elimination", admin, "eliminated")
    until("the helper told of the elimination", lambda: any(
        m["kind"] == "monitoring.case_eliminated"
        for m in client.get("/api/v1/me/notifications", headers=helper).json()["items"]))
    assert client.get(f"/api/v1/households/{hid}", headers=admin).json()["monitoring_case"] is None
    stats = client.get("/api/v1/stats/monitoring/640122000000", params={"year": YEAR}, headers=admin).json()
    assert stats["eliminated_in_year"] >= 1
