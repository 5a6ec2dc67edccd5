"""The demo's steps through the public API at the gateway, as the bootstrap administrator (as a client would):
regions, users, fund sources, allocations, projects funded and paid from them, poverty lines, households with
their helpers, incomes, 两不愁三保障 and measures. Each step is idempotent (409 means "already there"; fund sources and allocations are looked up first).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx

from jingzhun.demo.data import (ALLOCATIONS, COUNTY, DEMO_PASSWORD, FUND_SOURCES, POVERTY_LINES, PROJECTS, REGIONS,
                                USERS, YEAR, demo_households, fate, income)


class SeedError(Exception):
    pass


class Api:
    """The gateway, logged in as one user; answers are JSON, failures :class:`SeedError`."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.sub: str | None = None

    async def login(self, username: str, password: str | None) -> None:
        if not password:
            raise SeedError(f"the password of {username!r} is unknown; set JINGZHUN_ADMIN_PASSWORD")
        r = await self.client.post("/api/v1/auth/token",
                                   data={"grant_type": "password", "username": username, "password": password})
        if r.status_code != 200:
            raise SeedError(f"cannot log in as {username!r} ({r.status_code}); if this data dir was started "
                            "before without --demo, set JINGZHUN_ADMIN_PASSWORD to that admin's password")
        self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    async def create(self, path: str, body: dict[str, Any]) -> bool:
        """POST; True when created, False when it already existed (409)."""
        r = await self.client.post(path, json=body)
        if r.status_code in (200, 201):
            return True
        if r.status_code == 409:
            return False
        raise SeedError(f"POST {path} {body}: {r.status_code} {r.text[:500]}")

    async def put(self, path: str, body: dict[str, Any]) -> Any:
        r = await self.client.put(path, json=body)
        if r.status_code not in (200, 201):
            raise SeedError(f"PUT {path} {body}: {r.status_code} {r.text[:500]}")
        return r.json()

    async def get(self, path: str, **params: Any) -> Any:
        r = await self.client.get(path, params=params)
        if r.status_code != 200:
            raise SeedError(f"GET {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    async def list_all(self, path: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        cursor = None
        while True:
            page = await self.get(path, limit=500, **params, **({"cursor": cursor} if cursor else {}))
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return


async def seed_regions(api: Api) -> int:
    """The county, its four townships and thirteen villages (parents first)."""
    return sum([await api.create("/api/v1/regions", {"code": r.code, "name": r.name,
                                                     "rural_population": r.rural_population}) for r in REGIONS])


async def seed_users(api: Api) -> int:
    return sum([await api.create("/api/v1/auth/users", {
        "username": u, "password": DEMO_PASSWORD, "display_name": name, "phone": phone, "role": role,
        "region_code": region}) for u, name, role, region, phone in USERS])


async def seed_fund_sources(api: Api) -> int:
    """Fund sources have no natural key in the API, so look before creating."""
    existing = {(s["name"], s["year"]) async for s in api.list_all("/api/v1/fund-sources", year=YEAR)}
    created = 0
    for name, level, doc_no in FUND_SOURCES:
        if (name, YEAR) not in existing:
            created += await api.create("/api/v1/fund-sources", {"name": name, "level": level, "doc_no": doc_no,
                                                                 "year": YEAR})
    return created


async def seed_allocations(api: Api) -> int:
    """Each demo fund source's money allocated to the county for one purpose (once: a source that already has an
    allocation is left alone)."""
    taken = {a["source_id"] async for a in api.list_all("/api/v1/allocations", region=COUNTY.code, year=YEAR)}
    created = 0
    sources = [s async for s in api.list_all("/api/v1/fund-sources", year=YEAR)
               if (s["name"], s["level"], s["doc_no"]) in set(FUND_SOURCES)]
    for source, (purpose, amount) in zip(sorted(sources, key=lambda s: s["id"]), ALLOCATIONS):
        if source["id"] not in taken:
            created += await api.create("/api/v1/allocations", {
                "source_id": source["id"], "region_code": COUNTY.code, "purpose": purpose, "amount": amount,
                "year": YEAR, "doc_no": source["doc_no"]})
    return created


async def seed_projects(api: Api) -> int:
    """项目库: each project proposed, approved and funded from the county's allocation for its purpose (money
    committed), then taken as far as :data:`PROJECTS` says — 预付款 (the advance share of the budget) once started,
    尾款 once accepted (验收), 报账 (settled) — through the projects API's own rules. Projects already there (by
    name) are left alone."""
    existing = {p["name"] async for p in api.list_all("/api/v1/projects", region=COUNTY.code)}
    allocations = {a["purpose"]: a["id"] async for a in api.list_all("/api/v1/allocations", region=COUNTY.code,
                                                                       year=YEAR)}
    created = 0
    for name, purpose, village, budget, reached in PROJECTS:
        if name in existing or purpose not in allocations:
            continue
        r = await api.client.post("/api/v1/projects", json={"name": name, "purpose": purpose,
                                                            "village_code": village, "budget": budget})
        if r.status_code != 201:
            raise SeedError(f"POST /api/v1/projects: {r.status_code} {r.text[:500]}")
        project = r.json()["id"]
        created += 1

        async def move(action: str) -> None:
            await api.create(f"/api/v1/projects/{project}/transitions", {"action": action})

        async def pay(stage: str, amount: Decimal, payee: str) -> None:
            await api.create(f"/api/v1/projects/{project}/payments", {
                "stage": stage, "amount": f"{amount:.2f}", "payee": payee, "memo": "演示数据"})

        await move("approve")
        await api.create(f"/api/v1/projects/{project}/fundings",
                         {"allocation_id": allocations[purpose], "amount": budget})
        if reached == "approved":
            continue
        total = Decimal(budget)
        advance = (total * Decimal("0.3")).quantize(Decimal("1"))
        await move("start")
        await pay("advance", advance, "宁夏贺兰县建设工程有限公司")
        if reached == "in_progress":
            continue
        await move("inspect")
        await move("accept")
        await pay("final", total - advance, "宁夏贺兰县建设工程有限公司")
        if reached == "settled":
            await move("settle")
    return created


async def seed_poverty_lines(api: Api) -> int:
    """The national rural poverty line of each year 2014–2020 (what an exit's income is measured against)."""
    created = 0
    known = {line["year"] for line in (await api.get("/api/v1/poverty-lines"))["items"]}
    for year, amount in POVERTY_LINES.items():
        if year in known:
            continue
        await api.put(f"/api/v1/poverty-lines/{year}", {"amount": amount})
        created += 1
    return created


def assured(n: int, year: int, poor: bool) -> dict[str, bool]:
    """两不愁三保障 of a year: all six for a household that exits or has exited; some gaps for a poor one."""
    return {"food": True, "clothing": True, "education": not poor or n % 7 != 0, "medical": True,
            "housing": not poor or n % 5 != 0, "water": True}


async def seed_households(api: Api) -> int:
    """The demo households (pending 识别中, as a cadre's registration leaves them; history.py gives them their
    past), each with a 帮扶责任人 of its village where one exists, the incomes and 两不愁三保障 of the years that
    count (its exit year, above that year's line; 2020, below the line for those still poor), and one 五个一批
    measure. A household that is already there (409: its head belongs to a household) is left as it is.
    Villages are seeded side by side, each in its own order (so household numbers are the same every time)."""
    helpers = {u["region_code"]: u["id"] async for u in api.list_all("/api/v1/auth/users") if u["role"] == "helper"}
    by_village: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for n, body in enumerate(demo_households()):
        by_village.setdefault(body["village_code"], []).append((n, body))

    async def village(rows: list[tuple[int, dict[str, Any]]]) -> int:
        return sum([await _household(api, n, body, helpers) for n, body in rows])

    return sum(await asyncio.gather(*(village(rows) for rows in by_village.values())))


async def _household(api: Api, n: int, body: dict[str, Any], helpers: dict[str, int]) -> int:
    r = await api.client.post("/api/v1/households", json=body)
    if r.status_code == 409:
        return 0
    if r.status_code != 201:
        raise SeedError(f"POST /api/v1/households: {r.status_code} {r.text[:500]}")
    hid = r.json()["id"]
    members = len(body["members"])
    if helper := helpers.get(body["village_code"]):
        await api.put(f"/api/v1/households/{hid}/helper", {"user_id": helper})
    future = fate(n, body)
    years = {YEAR: (3000 + n * 7 % 700) if future.poor_in_2020 else 5200 + n * 13 % 2500}
    if future.exited:
        line = int(POVERTY_LINES[future.exited].split(".")[0])
        years[future.exited] = line + 600 + n * 11 % 1800
    for year, per_capita in sorted(years.items()):
        await api.put(f"/api/v1/households/{hid}/incomes/{year}", income(n, members, per_capita))
        await api.put(f"/api/v1/households/{hid}/assurances/{year}",
                      assured(n, year, poor=year == YEAR and future.poor_in_2020))
    await api.create(f"/api/v1/households/{hid}/measures", {
        "batch": ("production", "education", "social_security", "ecology", "relocation")[n % 5],
        "kind": ("滩羊养殖", "雨露计划", "低保兜底", "生态护林员", "移民安置")[n % 5],
        "description": "帮扶措施（演示数据）", "year": YEAR})
    return 1
