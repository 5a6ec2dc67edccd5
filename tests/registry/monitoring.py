"""Helpers for the 防返贫监测 case tests: households in a given status, cases, steps, the year's record."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from shared.db import Database
from shared.testing import auth
from tests.conftest import TOWNSHIP, VILLAGE
from tests.registry.conftest import apply_event, household

YEAR = 2024
CASE = {"category": "marginal", "risk_types": ["illness", "unstable_job"], "source": "cadre_visit",
        "description": "户主突发脑梗住院，自付医疗费用较高", "year": YEAR}


async def sql(settings, statement: str, **params: Any) -> list:
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            result = await s.execute(text(statement), params)
            rows = result.all() if result.returns_rows else []
            await s.commit()
            return rows
    finally:
        await db.close()


async def new_household(client, token, *, status: str = "ordinary", settings=None, village: str = VILLAGE,
                        **kw) -> dict:
    """A household in ``status``: ordinary and pending through the API, the others set in the database."""
    body = household(village=village, **kw)
    if status == "ordinary":
        body["status"] = "ordinary"
    r = await client.post("/api/v1/households", json=body, headers=auth(token()))
    assert r.status_code == 201, r.text
    h = r.json()
    if status not in ("ordinary", "pending"):
        await sql(settings, "UPDATE household SET status = :s WHERE id = :h", s=status, h=h["id"])
    return h


def cadre(token, village: str = VILLAGE) -> dict:
    return auth(token("village_cadre", region=village, sub="u-cadre"))


def officer(token, township: str = TOWNSHIP) -> dict:
    return auth(token("township_officer", region=township, sub="u-officer"))


def county(token) -> dict:
    return auth(token())


async def report(client, token, household_id: int, headers: dict | None = None, **kw) -> Any:
    return await client.post("/api/v1/monitoring/cases", json={**CASE, "household_id": household_id, **kw},
                             headers=headers or cadre(token))


async def step(client, headers: dict, case_id: int, action: str, **kw) -> Any:
    return await client.post(f"/api/v1/monitoring/cases/{case_id}/transitions", json={"action": action, **kw},
                             headers=headers)


async def record_year(client, token, household_id: int, *, year: int = YEAR, per_capita: str = "6000.00",
                      members: int = 2, assured: bool = True) -> None:
    """That year's income (``per_capita`` × ``members`` as wage) and assurances."""
    from decimal import Decimal
    wage = f"{Decimal(per_capita) * members:.2f}"
    r = await client.put(f"/api/v1/households/{household_id}/incomes/{year}", headers=county(token), json={
        "wage": wage, "production": 0, "transfer": 0, "property": 0, "expenses": 0})
    assert r.status_code == 200, r.text
    r = await client.put(f"/api/v1/households/{household_id}/assurances/{year}", headers=county(token), json={
        "food": True, "clothing": True, "education": True, "medical": assured, "housing": True, "water": True})
    assert r.status_code == 200, r.text


async def close_notice(settings, *, notice_id: int, case: dict, phase: str = "inclusion", struck: bool = False,
                       objections: list[dict] | None = None, event_id: str | None = None) -> bool:
    """What funds' ``notice.closed`` for a case's 公示 does once the worker hands it to the registry."""
    event = {"event_id": event_id or str(uuid.uuid4()), "topic": "notice.closed", "source": "funds",
             "payload": {"notice_id": notice_id, "kind": "monitoring", "outcome": "closed", "reason": None,
                         "requester_ref": f"registry/monitoring_case/{case['id']}/{phase}/v{case['version']}",
                         "region_code": case["village_code"],
                         "items": [{"ref": str(case["household_id"]), "struck": struck}],
                         "objections": objections or []}}
    return await apply_event(settings, event)
