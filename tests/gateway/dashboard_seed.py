"""A small county with a history, seeded through the gateway's API the way clients write it, for the dashboard's
browser test: the real 公示 round trips (funds opens the notices, they close, funds' ``notice.closed`` events reach
the registry's handlers), a project that commits and spends, idle money, and a bank's loan events.

    洪广镇 (1,000 rural people), village 欣荣村           金贵镇 (800), village 银河村
    A illness 3: registered 2016                         E education 2: registered 2016
    B illness 2: registered 2016, exited 2019            F illness 3: registered 2016, removed 2019
    C disability 4: registered 2017, exited 2018,        G lack_skills 5: registered 2018, exited 2020
      returned 2020
    D illness 1: pending (identified 2020)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import httpx

from shared.db import asyncpg_dsn, database_name
from shared.settings import Settings
from shared.testing import auth, make_token
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.funds.test_alerts import backdate_allocation
from tests.registry.conftest import OTHER_VILLAGE, household, member
from tests.registry.test_notices_with_funds import deliver_funds_events

OFFICER = "hongguang.officer"
OFFICER_PASSWORD = "Hongguang-2024-secret"
REGIONS = ((COUNTY, "贺兰县", 5000), (TOWNSHIP, "洪广镇", 1000), (OTHER_TOWNSHIP, "金贵镇", 800),
           (VILLAGE, "欣荣村", 600), (OTHER_VILLAGE, "银河村", 500))
# key: (village, main cause, persons, [(action, year)], 五个一批 batches of 2020)
HOUSEHOLDS = {
    "A": (VILLAGE, "illness", 3, [("register", 2016)], ["production", "social_security"]),
    "B": (VILLAGE, "illness", 2, [("register", 2016), ("exit", 2019)], []),
    "C": (VILLAGE, "disability", 4, [("register", 2017), ("exit", 2018), ("mark_returned", 2020)], ["production"]),
    "D": (VILLAGE, "illness", 1, [], []),
    "E": (OTHER_VILLAGE, "education", 2, [("register", 2016)], ["education"]),
    "F": (OTHER_VILLAGE, "illness", 3, [("register", 2016), ("remove", 2019)], []),
    "G": (OTHER_VILLAGE, "lack_skills", 5, [("register", 2018), ("exit", 2020)], ["relocation"]),
}
BANK = {"role": "bank", "region": COUNTY, "sub": "client-nx", "bank": "NXRCU"}
FINANCE = {"role": "finance_officer", "region": COUNTY, "sub": "u-finance"}


@dataclass
class Seeded:
    households: dict[str, int] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)
    allocations: dict[str, int] = field(default_factory=dict)


async def _ok(r: httpx.Response, *codes: int) -> dict:
    assert r.status_code in (codes or (200, 201)), r.text
    return r.json()


async def _through_notice(api: httpx.AsyncClient, settings: Settings, admin: dict, hid: int, body: dict) -> None:
    moved = await _ok(await api.post(f"/api/v1/households/{hid}/transitions", json=body, headers=admin))
    notice_id = moved["pending_action"]["notice_id"]
    await _ok(await api.post(f"/api/v1/notices/{notice_id}/close", headers=admin))
    assert await deliver_funds_events(settings) == 1


async def seed(api: httpx.AsyncClient, settings: Settings, admin: dict) -> Seeded:
    out = Seeded()
    for code, name, pop in REGIONS:
        await _ok(await api.post("/api/v1/regions", json={"code": code, "name": name, "rural_population": pop},
                                 headers=admin))
    await _ok(await api.post("/api/v1/auth/users", headers=admin, json={
        "username": OFFICER, "password": OFFICER_PASSWORD, "display_name": "洪广镇扶贫专干", "phone": "13900001111",
        "role": "township_officer", "region_code": TOWNSHIP}))
    for year in (2018, 2019, 2020):
        await _ok(await api.put(f"/api/v1/poverty-lines/{year}", json={"amount": "4000.00"}, headers=admin))

    for key, (village, cause, persons, moves, batches) in HOUSEHOLDS.items():
        members = [member("head")] + [member("son") for _ in range(persons - 1)]
        body = household(village, members=members, attribute="general", main_cause=cause, other_causes=[],
                         identified_year=moves[0][1] if moves else 2020)
        created = await _ok(await api.post("/api/v1/households", json=body, headers=admin))
        hid = out.households[key] = created["id"]
        out.heads[key] = members[0]["id_number"]
        for action, year in moves:
            if action == "register":
                await _through_notice(api, settings, admin, hid, {"action": "propose_registration", "year": year})
            elif action == "exit":
                await _ok(await api.put(f"/api/v1/households/{hid}/incomes/{year}", headers=admin, json={
                    "wage": "30000.00", "production": "0", "transfer": "0", "property": "0", "expenses": "0"}))
                await _ok(await api.put(f"/api/v1/households/{hid}/assurances/{year}", headers=admin, json={
                    "food": True, "clothing": True, "education": True, "medical": True, "housing": True,
                    "water": True}))
                await _through_notice(api, settings, admin, hid, {"action": "propose_exit", "year": year})
            else:
                await _ok(await api.post(f"/api/v1/households/{hid}/transitions", headers=admin,
                                         json={"action": action, "reason": "动态调整核查", "year": year}))
        for batch in batches:
            await _ok(await api.post(f"/api/v1/households/{hid}/measures", headers=admin,
                                     json={"batch": batch, "kind": "帮扶措施", "year": 2020}))
    await _funds(api, settings, admin, out)
    await _loans(api, settings, out)
    return out


async def _funds(api: httpx.AsyncClient, settings: Settings, admin: dict, out: Seeded) -> None:
    source = await _ok(await api.post("/api/v1/fund-sources", headers=admin, json={
        "name": "2020年中央财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕1号", "year": 2020}))
    for key, region, purpose, amount in (("industry", TOWNSHIP, "industry", "50000.00"),
                                         ("education", OTHER_TOWNSHIP, "education", "8000.00"),
                                         ("housing", COUNTY, "housing", "20000.00")):
        made = await _ok(await api.post("/api/v1/allocations", headers=admin, json={
            "source_id": source["id"], "region_code": region, "purpose": purpose, "amount": amount, "year": 2020,
            "doc_no": f"贺财〔2020〕{len(out.allocations) + 1}号"}))
        out.allocations[key] = made["id"]
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:        # 教育扶贫 money allocated 120 days ago and never drawn on: 滞留滞拨
        await backdate_allocation(conn, out.allocations["education"], 120)
    finally:
        await conn.close()
    project = await _ok(await api.post("/api/v1/projects", headers=admin, json={
        "name": "欣荣村肉牛养殖基地", "purpose": "industry", "village_code": VILLAGE, "budget": "30000.00",
        "beneficiary_household_ids": []}))
    for action in ("approve", "start"):
        await _ok(await api.post(f"/api/v1/projects/{project['id']}/transitions", headers=admin,
                                 json={"action": action}))
    finance = auth(make_token(settings, **FINANCE))
    await _ok(await api.post(f"/api/v1/projects/{project['id']}/fundings", headers=finance,
                             json={"allocation_id": out.allocations["industry"], "amount": "20000.00"}))
    await _ok(await api.post(f"/api/v1/projects/{project['id']}/payments", headers=finance,
                             json={"amount": "6000.00", "payee": "贺兰县建工公司", "stage": "advance"}))


async def _loans(api: httpx.AsyncClient, settings: Settings, out: Seeded) -> None:
    bank = auth(make_token(settings, **BANK))
    n = 0
    for key, events in (
            ("A", [("rated", "2020-01-05", {"credit_line": "50000.00", "rating": "AA"}),
                   ("issued", "2020-02-01", {"amount": "50000.00", "rate": "0.0435", "term_months": 36}),
                   ("overdue", "2023-03-01", {})]),
            ("E", [("rated", "2020-01-06", {"credit_line": "30000.00", "rating": "A"}),
                   ("issued", "2020-02-02", {"amount": "30000.00", "rate": "0.0435", "term_months": 36}),
                   ("repaid", "2021-02-02", {"amount": "10000.00"})]),
            ("C", [("rated", "2020-01-07", {"credit_line": "20000.00", "rating": "A"})])):
        for kind, day, extra in events:
            n += 1
            body = {"event_id": f"nx-{n}", "loan_no": f"NX2020-{key}", "id_number": out.heads[key], "kind": kind,
                    "occurred_at": f"{day}T10:00:00+08:00", **extra}
            await _ok(await api.post("/api/v1/bank/loan-events", json=body,
                                     headers=bank | {"Idempotency-Key": body["event_id"]}))
