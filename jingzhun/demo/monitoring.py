"""The demo county's 防返贫监测 (CONTRACT §11), seeded after the households' history.

- a 监测标准 for the county for each year 2021 to this year (``PUT /api/v1/monitoring/thresholds/{year}``);
- 一般农户 (ordinary) households in the three villages of 洪广镇 that have a village cadre;
- 32 cases there, each step by its role: the village cadre reports and verifies, the township officer rejects or
  publicizes, the county approves and eliminates. The cases of this year are in every status — reported,
  verified, publicized (their 公示 open now on the public board), approved (with a help measure since), eliminated
  (approved about 7½ months ago, then income above the 监测标准, the six assurances, a measure since approval and
  the elimination round with its own 公示), rejected;
- 一码申报 reports: two accepted into cases (``report_id``, source self_report), one dismissed, one left open and
  overdue (received three days ago: the registry's ``submit`` with the monitoring clock set back);
- a 部门筛查 file (医保/民政/残联/应急, 50 rows) imported as a job, whose warnings are listed: one opened into a
  case (``warning_id``, source screening), one dismissed, the others open.

Steps taken now go through the gateway's API as the user whose role takes them. A 公示 must run its full term
before funds closes it and 风险消除 needs an approval six months old, so the approved and eliminated cases are lived
in this process, as :mod:`jingzhun.demo.history` lives registrations: the registry's own ``cases.service`` (report,
transitions) with the monitoring clock (``services.registry.monitoring.clock``, which stamps the case's decisions
and steps) and funds' clock set to each day; funds answers through its own ``open_notice``
(:class:`~jingzhun.demo.history.InProcessFunds`) and ``close``, and the registry's ``notice.closed`` handler
applies it. No timestamp is rewritten. A county that already has cases is left alone (a second seed adds
nothing). The screening job is the registry worker's, waited for (``run_jobs``: run here by the worker's own job
function, when no worker runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from jingzhun.demo.api import Api, SeedError
from jingzhun.demo.batches import _token
from jingzhun.demo.data import COUNTY, DEMO_PASSWORD, VILLAGES, demo_households, income
from jingzhun.demo.history import InProcessFunds, clock_installed, funds_clock
from services.funds.notices import service as notices
from services.registry.households.scope import scope_of
from services.registry.lifecycle import handlers
from services.registry.monitoring import clock as monitoring_clock
from services.registry.monitoring.cases import service as cases
from services.registry.monitoring.cases.schemas import CaseCreate, CaseTransitionIn
from services.registry.monitoring.reports import service as reports
from services.registry.monitoring.reports.schemas import ReportIn
from shared import idnumber, pii
from shared.auth import Principal, Role
from shared.db import Database
from shared.settings import Settings

CHINA = ZoneInfo("Asia/Shanghai")
TOWNSHIP = "640122100000"                                                  # 洪广镇: hongguang
CADRES = {"640122100201": "xinrong", "640122100202": "guangrong", "640122100203": "longyuan"}
EXITED_PER_VILLAGE, ORDINARY_PER_VILLAGE = 7, 6
# the cases reported by the cadres, in the order households are taken: how far each goes
PLAN = ("eliminated", "approved", "publicized", "verified", "reported", "rejected") * 5 + ("eliminated", "approved")
MEASURES = (("production", "庭院经济（滩羊补栏）"), ("production", "公益性岗位（光伏）"), ("social_security", "临时救助"),
            ("education", "雨露计划"), ("production", "产业奖补"))
RISKS = (["illness"], ["accident"], ["disaster"], ["unstable_job"], ["industry_failure"], ["illness", "education"])


_AT: ContextVar[datetime | None] = ContextVar("demo_monitoring_clock", default=None)


@contextlib.contextmanager
def past(at: datetime) -> Iterator[None]:
    """Funds' and the monitoring clock at ``at`` for this task only (inside the clocks' installation)."""
    token = _AT.set(at)
    try:
        with funds_clock(at):
            yield
    finally:
        _AT.reset(token)


@contextlib.contextmanager
def monitoring_clock_installed() -> Iterator[None]:
    real = monitoring_clock.now
    monitoring_clock.now = lambda: _AT.get() or real()
    try:
        yield
    finally:
        monitoring_clock.now = real


def case_year() -> int:
    """The year the demo's cases are reported for (this year, China time)."""
    return datetime.now(CHINA).year


def thresholds() -> dict[int, str]:
    """监测标准 (yuan per person and year) by year, 2021 to this year."""
    return {y: f"{6000 + (y - 2021) * 380}.00" for y in range(2021, max(2026, case_year()) + 1)}


def _ordinary(village: str, k: int, year: int, used: set[str]) -> dict[str, Any]:
    rng = random.Random(f"monitoring-{village}-{k}")
    members = []
    for relation, male, age in (("head", True, rng.randint(35, 60)), ("spouse", False, rng.randint(33, 58)),
                                ("son", True, rng.randint(8, 20))):
        while True:
            born = date(year - age, rng.randint(1, 12), rng.randint(1, 28))
            seq = rng.randrange(0, 999) // 2 * 2 + (1 if male else 0)
            number = idnumber.make("640122", born, seq)
            if number not in used:
                used.add(number)
                break
        members.append({"name": ("马海纳丁"[k % 4] if relation != "spouse" else "李") + rng.choice(
                            ("永军", "学文", "成林") if male else ("玉兰", "春花", "海燕")),
                        "id_number": number, "relation": relation, "health": "healthy", "education": "junior_high",
                        "labor": "normal" if age >= 16 else "none", "in_school": age < 19, "migrant_worker": False})
    return {"village_code": village, "status": "ordinary", "identified_year": year,
            "address": f"宁夏回族自治区银川市贺兰县{next(v.name for v in VILLAGES if v.code == village)}{k + 1}组{100 + k}号",
            "phone": f"1399512{int(village[-2:]) * 100 + k:04d}", "attribute": "general", "main_cause": "illness",
            "members": members}


class Seeder:
    def __init__(self, api: Api, settings: Settings, run_jobs: bool) -> None:
        self.api, self.settings, self.run_jobs = api, settings, run_jobs
        self.year = case_year()
        self.now = datetime.now(UTC)
        self.min_days = settings.notice_min_days
        self.registry = Database(settings, "registry", pool_size=4)
        self.funds = Database(settings, "funds", pool_size=4)
        self.cipher = pii.cipher(settings)
        self.tokens: dict[str, dict[str, str]] = {}
        self.principals: dict[str, Principal] = {}

    async def close(self) -> None:
        await self.registry.close()
        await self.funds.close()

    async def login(self, username: str, role: Role, region: str) -> None:
        headers = await _token(self.api, {"grant_type": "password", "username": username, "password": DEMO_PASSWORD})
        me = (await self.api.client.get("/api/v1/auth/me", headers=headers)).json()
        self.tokens[username] = headers
        self.principals[username] = Principal(sub=me["sub"], role=role, region=region, jti="demo-monitoring", exp=0)

    async def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> Any:
        r = await self.api.client.request(method, path, headers=self.tokens.get(who or ""), **kwargs)
        if r.status_code not in (200, 201, 202):
            raise SeedError(f"{method} {path} as {who or 'admin'}: {r.status_code} {r.text[:500]}")
        return r.json()

    # --- the household's facts (the year's income and assurances, measures) through the API -----------------

    async def facts(self, household: dict[str, Any], per_capita: int) -> None:
        hid, n = household["id"], household["id"] % 97
        await self.api.put(f"/api/v1/households/{hid}/incomes/{self.year}",
                           income(n, household["member_count"], per_capita))
        await self.api.put(f"/api/v1/households/{hid}/assurances/{self.year}", {
            k: True for k in ("food", "clothing", "education", "medical", "housing", "water")})

    async def measure(self, household_id: int, k: int) -> None:
        batch, kind = MEASURES[k % len(MEASURES)]
        await self.api.create(f"/api/v1/households/{household_id}/measures", {
            "batch": batch, "kind": kind, "description": "监测帮扶措施（演示数据）", "year": self.year})

    # --- cases ------------------------------------------------------------------------------------------------

    @staticmethod
    def cadre(household: dict[str, Any]) -> str:
        return CADRES[household["village_code"]]

    def case_body(self, household: dict[str, Any], k: int, **origin: Any) -> dict[str, Any]:
        category = ("sudden" if k % 4 == 3 else "unstable" if household["status"] == "exited" else "marginal")
        return {"household_id": household["id"], "category": category, "risk_types": RISKS[k % len(RISKS)],
                "source": "cadre_visit", "year": self.year,
                "description": "入户排查发现：家庭成员患病，医疗支出大，收入下降（演示数据）", **origin}

    async def report(self, household: dict[str, Any], k: int, **origin: Any) -> int:
        """The cadre reports the household now, through the API."""
        case = await self.call("POST", "/api/v1/monitoring/cases", self.cadre(household),
                               json=self.case_body(household, k, **origin))
        return case["id"]

    async def create(self, household: dict[str, Any], k: int, at: datetime) -> int:
        """The cadre's report, taken by the registry's ``cases.service.create`` at ``at``."""
        async with self.registry.sessionmaker() as r:
            with past(at):
                case_id = await cases.create(session=r, scope=scope_of(self.principals[self.cadre(household)]),
                                             case_in=CaseCreate(**self.case_body(household, k)))
            await r.commit()
        return case_id

    async def step(self, case_id: int, action: str, who: str, at: datetime, **extra: Any) -> int | None:
        """A transition by the registry's code as ``who`` at ``at``; returns the 公示 it opened, if any."""
        async with self.registry.sessionmaker() as r, self.funds.sessionmaker() as f:
            services = InProcessFunds(f, min_days=self.min_days)
            with past(at):
                await cases.transition(session=r, scope=scope_of(self.principals[who]), cipher=self.cipher,
                                       services=services, case_id=case_id,
                                       transition_in=CaseTransitionIn(action=action, **extra))
            await f.commit()
            await r.commit()
        return services.opened

    async def close_notice(self, notice_id: int, at: datetime) -> None:
        """Funds closes the 公示 at ``at`` (its term over) and the registry applies it, as the worker would."""
        async with self.registry.sessionmaker() as r, self.funds.sessionmaker() as f:
            with past(at):
                notice = await notices.close(session=f, principal=self.principals["county2"], notice_id=notice_id)
                payload = await notices.closed_payload(f, notice, outcome="closed")
                await f.commit()
                await handlers.notice_closed(r, {"payload": payload, "source": "funds"}, {})
                await r.commit()

    async def inclusion_round(self, household: dict[str, Any], k: int, reported: datetime) -> int:
        """Reported, verified, publicized, the 公示 closed at the end of its term and approved — days ago."""
        term = timedelta(days=self.min_days, hours=1)
        case_id = await self.create(household, k, reported)
        await self.step(case_id, "verify", self.cadre(household), reported + timedelta(days=2))
        opened = reported + timedelta(days=3)
        notice = await self.step(case_id, "publicize", "hongguang", opened)
        await self.close_notice(notice, opened + term)
        await self.step(case_id, "approve", "county2", opened + term + timedelta(days=1))
        return case_id

    async def elimination_round(self, case_id: int) -> None:
        """风险消除 proposed with its own 公示 (opened a term ago), closed, and approved now."""
        opened = self.now - timedelta(days=self.min_days + 2)
        await self.step(case_id, "propose_elimination", "county2", opened, year=self.year)
        async with self.registry.sessionmaker() as r:
            notice = (await r.execute(text("SELECT notice_id FROM monitoring_case WHERE id = :c"),
                                      {"c": case_id})).scalar_one()
        await self.close_notice(notice, opened + timedelta(days=self.min_days, hours=1))
        await self.step(case_id, "approve", "county2", datetime.now(UTC))

    async def move(self, case_id: int, who: str, action: str, **body: Any) -> None:
        await self.call("POST", f"/api/v1/monitoring/cases/{case_id}/transitions", who, json={"action": action, **body})

    async def take(self, household: dict[str, Any], k: int, plan: str) -> None:
        """One household's case, as far as ``plan`` says."""
        threshold = int(thresholds()[self.year].split(".")[0])
        await self.facts(household, threshold - 800 + k * 37 % 600)
        cadre = self.cadre(household)
        if plan in ("approved", "eliminated"):
            days_ago = 230 if plan == "eliminated" else 40 + k
            case_id = await self.inclusion_round(household, k, self.now - timedelta(days=days_ago))
            await self.measure(household["id"], k)                  # 帮扶措施 since approval
        else:
            case_id = await self.report(household, k)
        if plan == "eliminated":
            await self.facts(household, threshold + 1500 + k * 53 % 900)    # income back above the 监测标准
            await self.elimination_round(case_id)
        if plan in ("verified", "publicized") or (plan == "rejected" and k % 2):
            await self.move(case_id, cadre, "verify")
        if plan == "publicized":                                    # open now, on the public board
            await self.move(case_id, "hongguang", "publicize")
        if plan == "rejected":
            await self.move(case_id, "hongguang", "reject",
                            notes="经入户核实，家庭收入稳定、无返贫致贫风险，不予纳入（演示数据）")

    # --- 一码申报 and 部门筛查 ------------------------------------------------------------------------------------

    async def reports(self, households: list[dict[str, Any]]) -> None:
        """Two reports accepted into cases, one dismissed (public POSTs now), one received three days ago and left
        open (overdue: the registry's ``submit`` with the monitoring clock set back)."""
        heads = [await self.head(h) for h in households]
        bodies = [{"name": name, "id_number": idn, "phone": f"1399513{n:04d}", "village_code": h["village_code"],
                   "description": text_}
                  for n, (h, (name, idn), text_) in enumerate(zip(households, heads, (
                      "家里老人今年住院两次，自付医疗费用三万多元，生活困难，申请帮扶。",
                      "今年夏天冰雹把大棚打坏了，收入大减，申请纳入监测。",
                      "想咨询一下低保政策。",
                      "丈夫务工受伤，已经半年没有收入，孩子上学需要钱。")))]
        refs = []
        for body in bodies[:3]:
            r = await self.api.client.post("/public/monitoring/reports", json=body)
            if r.status_code != 202:
                raise SeedError(f"POST /public/monitoring/reports: {r.status_code} {r.text[:300]}")
            refs.append(r.json()["reference"])
        async with self.registry.sessionmaker() as r:
            with past(self.now - timedelta(days=3, hours=2)):
                await reports.submit(session=r, cipher=self.cipher, report_in=ReportIn(**bodies[3]))
            await r.commit()
        listed = (await self.call("GET", "/api/v1/monitoring/reports", "hongguang",
                                  params={"status": "open", "limit": 500}))["items"]
        by_ref = {x["reference"]: x["id"] for x in listed}
        for k, (h, ref) in enumerate(zip(households[:2], refs)):
            await self.facts(h, 5200 + 300 * k)
            await self.report(h, 1 + k, source="self_report", report_id=by_ref[ref])
        await self.call("POST", f"/api/v1/monitoring/reports/{by_ref[refs[2]]}/dismiss", "hongguang",
                        json={"reason": "咨询低保政策，非困难申报，已电话答复（演示数据）"})

    async def head(self, household: dict[str, Any]) -> tuple[str, str]:
        body = await self.api.get(f"/api/v1/households/{household['id']}")
        head = next(m for m in body["members"] if m["relation"] == "head")
        return head["name"], head["id_number"]

    async def screening(self, targets: list[dict[str, Any]], others: list[dict[str, Any]]) -> None:
        """50 department rows: heavy 自付医疗费用 for ``targets`` (their income recorded: warnings), small facts for
        ``others``, and people the registry does not know; imported by the township as a job."""
        today = datetime.now(CHINA).date()
        on = [max(date(self.year, 1, 1), today - timedelta(days=5 + 7 * k)).isoformat() for k in range(50)]
        rows = []
        for k, h in enumerate(targets):
            await self.facts(h, int(thresholds()[self.year].split(".")[0]) + 1200)
            idn = (await self.head(h))[1]
            rows += [(idn, "医保", "自付医疗费用", f"{16000 + 900 * k}.00", on[k]),
                     (idn, "医保局", "自付医疗费用", "4800.00", on[k + 10])]
        for k, h in enumerate(others):
            idn = (await self.head(h))[1]
            rows.append((idn, ("民政", "残联")[k % 2], ("临时救助", "残疾")[k % 2], ("2000.00", "0")[k % 2], on[k]))
        rng = random.Random("screening")
        while len(rows) < 50:                  # people of 永宁县 and 西夏区: matched to no household here
            k = len(rows)
            idn = idnumber.make(("640121", "640105")[k % 2], date(rng.randint(1950, 1995), rng.randint(1, 12),
                                                                  rng.randint(1, 28)), rng.randrange(0, 999))
            rows.append((idn, ("医保", "应急", "民政", "残联")[k % 4],
                         ("自付医疗费用", "灾害损失", "临时救助", "残疾")[k % 4], f"{rng.randint(5, 90) * 100}.00", on[k]))
        content = ("身份证号,来源部门,类型,金额,发生日期\n" + "".join(",".join(r) + "\n" for r in rows)).encode()
        job = await self.call("POST", "/api/v1/monitoring/screenings", "hongguang",
                              files={"file": (f"洪广镇{self.year}年部门筛查.csv", content, "text/csv")})
        await self.finish(job["job_id"])
        warnings = (await self.call("GET", "/api/v1/monitoring/warnings", "hongguang",
                                    params={"status": "open", "limit": 500}))["items"]
        mine = {h["id"]: h for h in targets}
        hit = [w for w in warnings if w["household_id"] in mine and w["rule"] == "medical_burden"]
        if len(hit) < 2:
            raise SeedError(f"the demo screening raised {len(hit)} medical_burden warnings, not {len(targets)}")
        await self.report(mine[hit[0]["household_id"]], 0, source="screening", warning_id=hit[0]["id"])
        await self.call("POST", f"/api/v1/monitoring/warnings/{hit[1]['id']}/dismiss", "hongguang",
                        json={"reason": "医疗费用已由大病保险和医疗救助报销，家庭无返贫风险（演示数据）"})

    async def finish(self, job_id: str) -> None:
        """The import job to its end: run here by the worker's own job function (``run_jobs``: no worker is
        running), or waited for."""
        if self.run_jobs:
            from services.registry.bulk import jobs
            from services.registry.monitoring.screenings.importer import run_job
            await jobs.run(db=self.registry, settings=self.settings, job_id=uuid.UUID(job_id), runner=run_job)
        for _ in range(600):
            job = await self.call("GET", f"/api/v1/jobs/{job_id}", "hongguang")
            if job["status"] in ("done", "failed"):
                if job["status"] == "failed":
                    raise SeedError(f"the demo screening failed: {job}")
                return
            await asyncio.sleep(0.1)
        raise SeedError(f"the demo screening job {job_id} did not finish in a minute")


async def seed_monitoring(api: Api, settings: Settings, *, run_jobs: bool = False) -> int:
    """The whole of 防返贫监测 (see the module); returns how many cases it opened (0: the county had some)."""
    known = {t["year"] for t in (await api.get("/api/v1/monitoring/thresholds"))["items"]
             if t["region_code"] == COUNTY.code}
    for year, amount in thresholds().items():
        if year not in known:
            await api.put(f"/api/v1/monitoring/thresholds/{year}", {"region_code": COUNTY.code, "amount": amount})
    if (await api.get("/api/v1/monitoring/cases", region=COUNTY.code, limit=1))["items"]:
        return 0
    seeder = Seeder(api, settings, run_jobs)
    try:
        for user, role, region in (("county2", Role.county_admin, COUNTY.code),
                                   ("hongguang", Role.township_officer, TOWNSHIP),
                                   *((u, Role.village_cadre, v) for v, u in CADRES.items())):
            await seeder.login(user, role, region)
        used = {m["id_number"] for body in demo_households() for m in body["members"]}
        exited, ordinary = [], []
        for village in CADRES:
            for k in range(ORDINARY_PER_VILLAGE + 2):
                await api.create("/api/v1/households", _ordinary(village, k, seeder.year, used))
            homes = [h async for h in api.list_all("/api/v1/households", region=village)]
            exited += [h for h in homes if h["status"] == "exited"][:EXITED_PER_VILLAGE]
            ordinary += [h for h in homes if h["status"] == "ordinary"]
        taken = exited + ordinary[:len(PLAN) - len(exited)]
        rest = ordinary[len(taken) - len(exited):]
        with clock_installed(), monitoring_clock_installed():
            for k, (household, plan) in enumerate(zip(taken, PLAN)):
                await seeder.take(household, k, plan)
            await seeder.reports(rest[:4])
            await seeder.screening(rest[4:], exited[:10])
        return len(taken) + 3
    finally:
        await seeder.close()
