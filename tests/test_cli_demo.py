"""The demo county (`jingzhun demo`): its regions and households, the seed against a fake gateway and for real."""

from __future__ import annotations


import httpx
import pytest

from jingzhun import cli, demo
from shared import idnumber, regions


def test_demo_regions_form_a_tree_under_the_county():
    codes = {r.code for r in demo.REGIONS}
    for region in demo.REGIONS:
        regions.validate(region.code)
        assert region is demo.COUNTY or regions.parent(region.code) in codes
    assert {"640122100000", "640122101000", "640122102000", "640122200000"} <= codes
    assert {"欣荣村", "广荣村", "隆源村"} <= {r.name for r in demo.VILLAGES}
    assert all(role in cli.ROLES for _, _, role, _, _ in demo.USERS)


def test_demo_households_have_valid_unique_id_numbers():
    households = list(demo.demo_households())
    assert len(households) >= 300
    ids = [m["id_number"] for h in households for m in h["members"]]
    assert len(ids) == len(set(ids))
    assert all(idnumber.normalize(i) == i for i in ids)
    for h in households:
        heads = [m for m in h["members"] if m["relation"] == "head"]
        assert len(heads) == 1 and idnumber.sex(heads[0]["id_number"]) == "male"
    assert households == list(demo.demo_households())      # deterministic


class FakeGateway:
    """Just enough of the API for the seed: 409 on a second create, a paged fund-source list."""

    def __init__(self) -> None:
        self.regions: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.sources: list[dict] = []
        self.allocations: list[dict] = []
        self.households: dict[str, dict] = {}      # by the head's ID number: a person is in one household
        self.projects: list[dict] = []
        self.writes: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import json
        path = request.url.path
        if path == "/api/v1/auth/token":
            ok = b"password=secret-password" in request.content
            return httpx.Response(200 if ok else 401, json={"access_token": "t"})
        assert request.headers["Authorization"] == "Bearer t"
        if request.method == "POST":
            body = json.loads(request.content)
            if path == "/api/v1/fund-sources":
                self.sources.append(dict(body, id=len(self.sources) + 1))
                return httpx.Response(201, json=self.sources[-1])
            if path == "/api/v1/allocations":
                self.allocations.append(dict(body, id=len(self.allocations) + 1))
                return httpx.Response(201, json=self.allocations[-1])
            if path == "/api/v1/projects":
                self.projects.append(dict(body, id=len(self.projects) + 1))
                return httpx.Response(201, json=self.projects[-1])
            if path.startswith("/api/v1/projects/"):
                self.writes.append(path)
                return httpx.Response(201, json={})
            if path == "/api/v1/households":
                head = body["members"][0]["id_number"]
                if head in self.households:
                    return httpx.Response(409, json={"status": 409})
                self.households[head] = dict(body, id=len(self.households) + 1)
                return httpx.Response(201, json=self.households[head])
            if path.startswith("/api/v1/households/"):
                self.writes.append(path)
                return httpx.Response(201, json={})
            if path == "/api/v1/auth/users":
                body["id"] = len(self.users) + 1
            store, key = {"/api/v1/regions": (self.regions, "code"),
                          "/api/v1/auth/users": (self.users, "username")}[path]
            if body[key] in store:
                return httpx.Response(409, json={"status": 409})
            store[body[key]] = body
            return httpx.Response(201, json=body)
        if request.method == "PUT":
            self.writes.append(path)
            return httpx.Response(200, json={})
        if path == "/api/v1/fund-sources":
            return httpx.Response(200, json={"items": self.sources, "next_cursor": None})
        if path == "/api/v1/allocations":
            return httpx.Response(200, json={"items": self.allocations, "next_cursor": None})
        if path == "/api/v1/auth/users":
            return httpx.Response(200, json={"items": list(self.users.values()), "next_cursor": None})
        if path == "/api/v1/projects":
            return httpx.Response(200, json={"items": self.projects, "next_cursor": None})
        if path == "/api/v1/poverty-lines":
            lines = [{"year": int(p.rsplit("/", 1)[1])} for p in self.writes if p.startswith("/api/v1/poverty-lines/")]
            return httpx.Response(200, json={"items": lines, "next_cursor": None})
        return httpx.Response(404)


def test_demo_seed_is_idempotent():
    gateway = FakeGateway()
    transport = httpx.MockTransport(gateway)
    first = demo.seed("http://gw", username="admin", password="secret-password", log=lambda m: None,
                      transport=transport)
    households = len(list(demo.demo_households()))
    assert first == {"regions": len(demo.REGIONS), "users": len(demo.USERS), "fund_sources": len(demo.FUND_SOURCES),
                     "allocations": len(demo.ALLOCATIONS), "projects": len(demo.PROJECTS),
                     "poverty_lines": len(demo.POVERTY_LINES), "households": households}
    assert {(a["source_id"], a["purpose"]) for a in gateway.allocations} == {
        (s["id"], p) for s, (p, _) in zip(gateway.sources, demo.ALLOCATIONS)}
    assert 300 <= households <= 400
    helped = {p for p in gateway.writes if p.endswith("/helper")}
    assert helped and len(helped) < households                   # only villages with a demo helper
    writes = len(gateway.writes)
    assert list(gateway.regions)[:5] == [demo.COUNTY.code, *[t.code for t in demo.TOWNSHIPS]]   # parents first
    again = demo.seed("http://gw", username="admin", password="secret-password", log=lambda m: None,
                      transport=transport)
    assert again == {"regions": 0, "users": 0, "fund_sources": 0, "allocations": 0, "projects": 0,
                     "poverty_lines": 0, "households": 0}
    assert len(gateway.writes) == writes                         # nothing written twice
    with pytest.raises(demo.SeedError, match="cannot log in"):
        demo.seed("http://gw", username="admin", password="wrong", transport=transport)


def test_demo_households_have_a_past_that_makes_every_year_count():
    fates = [demo.fate(n, body) for n, body in enumerate(demo.demo_households())]
    exits = {year: sum(f.exited == year for f in fates) for year in range(2016, 2021)}
    assert all(exits.values()), exits
    assert sum(f.returned is not None for f in fates) >= 3 and sum(f.removed is not None for f in fates) >= 3
    assert 0.05 < sum(f.poor_in_2020 for f in fates) / len(fates) < 0.3
    assert 3 <= sum(f.registered is None for f in fates) <= 10          # 公示 open now
    assert all(f.exited is None or f.registered < f.exited for f in fates)


async def test_demo_county_lives_in_statistics_board_and_audit(settings):
    """The whole seed against the four services in-process: HTTP steps through the gateway, then the history."""
    from decimal import Decimal
    from contextlib import AsyncExitStack

    from tests.conftest import _service_app
    from tests.gateway.conftest import ServiceTransport, netloc
    from services.gateway.app import create as create_gateway
    from jingzhun.demo.monitoring import case_year
    settings = settings.model_copy(update={"admin_password": "demo-admin-password"})
    apps = {name: _service_app(name, settings) for name in ("registry", "funds", "notifications")}
    wired = ServiceTransport({netloc(settings.service_url(n)): a for n, a in apps.items()})
    gateway = create_gateway(settings, transport=wired)
    wired.transports[netloc(settings.service_url("gateway"))] = httpx.ASGITransport(app=gateway)
    async with AsyncExitStack() as stack:
        for app in [*apps.values(), gateway]:
            await stack.enter_async_context(app.router.lifespan_context(app))
            if app is not gateway:
                await app.state.http.aclose()
                app.state.http = app.state.services.client = httpx.AsyncClient(transport=wired, trust_env=False)
                stack.push_async_callback(app.state.http.aclose)
        transport = httpx.ASGITransport(app=gateway)
        gw = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))
        first = await demo.seed_async("http://test", username=settings.admin_username,
                                      password="demo-admin-password", settings=settings, log=lambda m: None,
                                      transport=transport, run_jobs=True)
        households = len(list(demo.demo_households()))
        assert 30 <= first["monitoring"] <= 40, first

        async def monitoring_figures() -> tuple:
            r = await gw.post("/api/v1/auth/token", data={"grant_type": "password", "username": "county2",
                                                           "password": demo.DEMO_PASSWORD})
            county2 = {"Authorization": f"Bearer {r.json()['access_token']}"}
            figures = (await gw.get(f"/api/v1/stats/monitoring/{demo.COUNTY.code}",
                                    params={"year": case_year()}, headers=county2)).json()
            warnings = (await gw.get("/api/v1/monitoring/warnings", params={"limit": 500, "region": demo.COUNTY.code},
                                     headers=county2)).json()["items"]
            reports = (await gw.get("/api/v1/monitoring/reports", params={"limit": 500}, headers=county2)).json()
            board = (await gw.get("/public/notices", params={"status": "open", "limit": 100})).json()["items"]
            return (figures, sorted((w["id"], w["status"]) for w in warnings),
                    sorted((x["id"], x["status"], x["overdue"]) for x in reports["items"]),
                    sorted(n["id"] for n in board))

        monitored = await monitoring_figures()
        figures, warnings, reports, board = monitored
        by_status = {row["code"]: row["cases"] for row in figures["by_status"]}
        assert set(by_status) == {"reported", "verified", "publicized", "approved", "eliminated", "rejected"}
        assert all(n > 0 for n in by_status.values()) and 30 <= figures["cases"] <= 40, figures
        assert figures["monitored_households"] > 0 and figures["eliminated_in_year"] > 0, figures
        assert figures["overdue_reports"] == 1, figures
        assert {s for _, s, _ in reports} == {"open", "accepted", "dismissed"}
        assert [overdue for _, s, overdue in reports if s == "open"] == [True]
        assert {s for _, s in warnings} == {"open", "dismissed", "case_opened"}, warnings
        assert first["households"] == households and first["histories"] == households
        again = await demo.seed_async("http://test", username=settings.admin_username,
                                      password="demo-admin-password", settings=settings, log=lambda m: None,
                                      transport=transport, run_jobs=True)
        assert set(again.values()) == {0}, again                    # a second seed adds nothing
        assert monitored == await monitoring_figures(), "a second seed changed the monitoring"
        r = await gw.post("/api/v1/auth/token", data={"grant_type": "password", "username": "county2",
                                                       "password": demo.DEMO_PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        county = demo.COUNTY.code
        stats = (await gw.get(f"/api/v1/stats/regions/{county}", params={"year": 2020}, headers=admin)).json()
        status = {row["code"]: row["households"] for row in stats["by_status"]}
        assert status["registered"] > 0 and status["exited"] > status["registered"] and status["returned"] > 0
        assert status["removed"] > 0 and status["pending"] > 0
        assert 0.0005 < stats["poverty_incidence"] < 0.01        # a few hundred poor of 128,600 rural people
        assert stats["in_year"]["exits"]["households"] > 0 and stats["in_year"]["new"]["households"] > 0
        years = (await gw.get(f"/api/v1/stats/regions/{county}/years", params={"from": 2014, "to": 2020},
                              headers=admin)).json()
        by_year = {row["year"]: row for row in years["years"]}
        assert all(by_year[y]["exits"]["households"] > 0 for y in range(2016, 2021)), by_year
        assert all(by_year[y]["new"]["households"] > 0 for y in (2014, 2015, 2016, 2019, 2020))
        assert by_year[2019]["returns"]["households"] > 0 and by_year[2017]["removals"]["households"] > 0
        board = (await gw.get("/public/notices", params={"status": "open"})).json()["items"]
        kinds = [n.get("kind") for n in board]
        assert 3 <= kinds.count("registration") <= 10 and all(n["ends_at"] > "2026" for n in board), kinds
        assert kinds.count("monitoring") == by_status["publicized"]         # 防返贫监测 公示 open now
        assert "识别纳入公示" in (await gw.get("/public")).text
        closed = (await gw.get("/api/v1/notices", params={"status": "closed", "limit": 500}, headers=admin)).json()
        assert len(closed["items"]) == 500                       # hundreds of 公示 closed in the past
        past = [n for n in closed["items"] if n["kind"] != "monitoring"]
        assert len(past) > 400 and all(n["ends_at"] < "2021" for n in past)
        closed_cases = [n for n in closed["items"] if n["kind"] == "monitoring"]       # 纳入 and 风险消除 公示
        assert len(closed_cases) == by_status["approved"] + 2 * by_status["eliminated"], closed_cases
        allocations = (await gw.get("/api/v1/allocations", params={"year": 2020, "limit": 100},
                                    headers=admin)).json()["items"]
        by_purpose = {a["purpose"]: a for a in allocations}
        industry = by_purpose["industry"]      # one project settled (800,000.00), one with its 30 % advance paid
        assert (industry["spent"], industry["committed"]) == ("1187000.00", "840000.00"), industry   # + 2 batches
        assert by_purpose["infrastructure"]["spent"] == "600000.00" and by_purpose["housing"]["spent"] == "606000.00"
        assert all(Decimal(a["amount"]) == sum(Decimal(a[k]) for k in ("available", "committed", "spent"))
                   for a in allocations)
        paid = (await gw.get("/api/v1/disbursements", headers=admin)).json()["items"]
        assert len(paid) == len(demo.BATCHES) and {d["status"] for d in paid} == {"done"}
        loans = (await gw.get("/api/v1/stats/loans", params={"region": county}, headers=admin)).json()
        assert loans["loans_issued"] >= 20 and Decimal(loans["repaid"]) > 0 and 0 < loans["overdue_rate"] < 0.3
        interest = by_purpose["loan_interest"]
        assert Decimal(interest["spent"]) > 0, interest                  # 贴息 paid for 2020's first half
        ledger = await gw.get("/api/v1/exports/ledger.xlsx", params={"region": county}, headers=admin)
        assert ledger.status_code == 200 and len(ledger.content) > 10_000
        chains = (await gw.get("/api/v1/audit/verify", headers=admin)).json()["chains"]
        assert all(chain["ok"] for chain in chains.values()), chains
