"""GET /api/v1/audit/verify in funds reports every service's chain."""

from datetime import datetime

import asyncpg

from shared.db import asyncpg_dsn, database_name
from shared.testing import auth, running
from tests.conftest import COUNTY, _service_app


async def test_verify_reports_each_chain_and_spots_a_tampered_one(settings, token):
    apps = {name: _service_app(name, settings) for name in ("registry", "funds", "notifications")}
    async with running(apps, settings) as c:
        admin = auth(token())
        assert (await c["registry"].post("/api/v1/regions", json={"code": COUNTY, "name": "贺兰县"},
                                         headers=admin)).status_code == 201
        assert (await c["funds"].post("/api/v1/fund-sources", json={
            "name": "财政专项扶贫资金", "level": "central", "doc_no": "财农〔2020〕1号", "year": 2020},
            headers=admin)).status_code == 201
        r = await c["funds"].get("/api/v1/audit/verify", headers=auth(token("auditor")))
        body = r.json()
        assert r.status_code == 200, body
        assert body["chains"]["registry"]["ok"] and body["chains"]["registry"]["count"] == 1, str(body)
        assert body["chains"]["funds"]["ok"] and body["chains"]["funds"]["count"] == 1
        assert body["chains"]["notifications"]["ok"]
        conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
        await conn.execute("UPDATE audit_log SET diff = '{}' WHERE seq = 1")
        await conn.close()
        body = (await c["funds"].get("/api/v1/audit/verify", headers=auth(token("auditor")))).json()
        assert body["ok"] is False
        assert body["chains"]["registry"]["ok"] is False and body["chains"]["registry"]["first_bad_seq"] == 1
        assert body["chains"]["funds"]["ok"] is True
        events = (await c["funds"].get("/api/v1/audit/events?service=registry&entity=region",
                                       headers=admin)).json()["items"]
        assert [(e["service"], e["entity_id"], e["action"]) for e in events] == [("registry", COUNTY, "region.create")]
        # a helper has no business in the audit log
        assert (await c["funds"].get("/api/v1/audit/verify",
                                     headers=auth(token("helper", "640122100001")))).status_code == 403


async def test_events_of_every_service_come_merged_in_time_order_page_by_page(settings, token):
    apps = {name: _service_app(name, settings) for name in ("gateway", "registry", "funds", "notifications")}
    async with running(apps, settings) as c:
        admin = auth(token())
        made = []
        for n, (code, name) in enumerate([(COUNTY, "贺兰县"), ("640122100000", "洪广镇")]):
            assert (await c["registry"].post("/api/v1/regions", json={"code": code, "name": name},
                                             headers=admin)).status_code == 201
            made.append(("registry", "region.create"))
            assert (await c["funds"].post("/api/v1/fund-sources", json={
                "name": f"财政专项扶贫资金{n}", "level": "central", "doc_no": f"财农〔2020〕{n}号", "year": 2020},
                headers=admin)).status_code == 201
            made.append(("funds", "fund_source.create"))
        seen, cursor = [], None
        for _ in range(10):
            r = await c["funds"].get("/api/v1/audit/events", params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                                     headers=auth(token("auditor")))
            assert r.status_code == 200, r.text
            seen += r.json()["items"]
            if not (cursor := r.json()["next_cursor"]):
                break
        ours = [(e["service"], e["action"]) for e in seen if e["service"] in ("registry", "funds")]
        assert ours == made
        instants = [e["at"] for e in seen]
        assert instants == sorted(instants, key=datetime.fromisoformat)
