"""The demo bank: 到户补贴 paid through disbursement batches — made and approved through the API, their 公示 opened
and closed in 2020 by funds' own code with its clock set (as :mod:`jingzhun.demo.history` does), sent to the bank,
and the bank's results posted as a bank does (client credentials, ``POST /api/v1/bank/disbursements/{id}/results``)
— and 扶贫小额信贷: the bank's loan events of 2019–2020 (rated, issued, repaid) posted with their own dates, then
the 贴息 of 2020's first half paid from the loan_interest allocation. A batch already there (by title) is left
alone, and loans are posted (idempotent by event id) only with batches still to pay (a first seed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jingzhun.demo.api import Api, SeedError
from jingzhun.demo.data import BANK, BATCHES, COUNTY, DEMO_PASSWORD, VILLAGES, YEAR, demo_households, fate
from jingzhun.demo.history import clock_installed, day, funds_clock
from services.funds.disbursements import handlers as batch_events, service as batches
from services.funds.notices import service as notices
from shared.auth import Principal, Role
from shared.db import Database
from shared.settings import Settings


class RegionNames:
    """Answers funds' one question to the registry while a batch is publicized: a village's name."""

    async def request(self, method: str, service: str, path: str, **_: Any) -> Any:
        code = path.rsplit("/", 1)[-1]
        return {"name": next((v.name for v in VILLAGES if v.code == code), None)}


async def _token(api: Api, data: dict[str, str]) -> dict[str, str]:
    r = await api.client.post("/api/v1/auth/token", data=data)
    if r.status_code != 200:
        raise SeedError(f"token for {data.get('username') or data.get('client_id')}: {r.status_code} {r.text[:300]}")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _post(api: Api, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    r = await api.client.post(path, json=body, headers=headers)
    if r.status_code not in (200, 201):
        raise SeedError(f"POST {path}: {r.status_code} {r.text[:500]}")
    return r.json()


async def seed_batches(api: Api, settings: Settings, *, admin_sub: str) -> int:
    done = {d["title"] async for d in api.list_all("/api/v1/disbursements")}
    todo = [b for b in BATCHES if b[0] not in done]
    if not todo:
        return 0
    allocation = [a["id"] async for a in api.list_all("/api/v1/allocations", region=COUNTY.code, year=YEAR)
                  if a["purpose"] == "industry"][0]
    finance = await _token(api, {"grant_type": "password", "username": "finance", "password": DEMO_PASSWORD})
    client = await _post(api, "/api/v1/auth/clients", {"name": BANK[0], "bank_code": BANK[1],
                                                       "region_code": COUNTY.code})
    bank = await _token(api, {"grant_type": "client_credentials", "client_id": client["client_id"],
                              "client_secret": client["client_secret"]})
    officer = Principal(sub=admin_sub, role=Role.county_admin, region=COUNTY.code, jti="demo-batches", exp=0)
    funds = Database(settings, "funds", pool_size=1)
    try:
        for title, village, amount, opened in todo:
            homes = [h["id"] async for h in api.list_all("/api/v1/households", region=village)
                     if h["status"] in ("registered", "exited", "returned")][:10]
            batch = await _post(api, "/api/v1/disbursements", {
                "allocation_id": allocation, "title": title,
                "lines": [{"household_id": h, "amount": amount} for h in homes]})
            await _publicize_in_2020(funds, settings, officer, batch["id"], day(*opened))
            await _post(api, f"/api/v1/disbursements/{batch['id']}/approve", None, headers=finance)
            await _post(api, f"/api/v1/disbursements/{batch['id']}/send", {"bank_code": BANK[1]})
            lines = (await api.client.get(f"/api/v1/bank/disbursements/{batch['id']}", headers=bank)).json()["lines"]
            await _post(api, f"/api/v1/bank/disbursements/{batch['id']}/results", {"lines": [
                {"household_id": x["household_id"], "status": "paid", "bank_ref": f"{BANK[1]}{batch['id']:04d}{n:04d}"}
                for n, x in enumerate(lines)]}, headers=bank | {"Idempotency-Key": f"demo-{batch['id']}"})
    finally:
        await funds.close()
    await seed_loans(api, bank)
    return len(todo)


async def seed_loans(api: Api, bank: dict[str, str]) -> int:
    """Every tenth household registered by 2018 borrows 50,000 for three years at 4.35 % (5万元以下、3年以内、免担保免抵押、
    基准利率放贷、财政贴息); some have repaid part, a few are overdue. Then the county pays the 贴息 of 2020-01-01..2020-06-30."""
    posted = 0
    for n, body in enumerate(demo_households()):
        future = fate(n, body)
        if n % 10 != 3 or future.registered is None or future.registered > 2018 or future.removed:
            continue
        head = body["members"][0]["id_number"]
        loan_no = f"{BANK[1]}-DK-{2019}{n:05d}"
        issued = f"2019-{3 + n % 6:02d}-{10 + n % 15:02d}T10:00:00+08:00"
        events = [("rated", f"2019-02-{10 + n % 15:02d}T09:00:00+08:00", {"credit_line": "50000.00", "rating": "AA"}),
                  ("issued", issued, {"amount": "50000.00", "rate": "0.0435", "term_months": 36})]
        if n % 3 == 0:
            events.append(("repaid", f"2020-03-{10 + n % 15:02d}T10:00:00+08:00", {"amount": "10000.00"}))
        elif n % 7 == 0:                                  # a few behind on their payments since the autumn
            events.append(("overdue", f"2020-10-{10 + n % 15:02d}T10:00:00+08:00", {}))
        for k, (kind, at, extra) in enumerate(events):
            event_id = f"{loan_no}-{k}"
            r = await api.client.post("/api/v1/bank/loan-events", headers=bank | {"Idempotency-Key": event_id},
                                      json={"event_id": event_id, "loan_no": loan_no, "id_number": head, "kind": kind,
                                            "occurred_at": at, **extra})
            if r.status_code not in (200, 201):
                raise SeedError(f"POST /api/v1/bank/loan-events: {r.status_code} {r.text[:500]}")
        posted += 1
    interest = [a["id"] async for a in api.list_all("/api/v1/allocations", region=COUNTY.code, year=YEAR)
                if a["purpose"] == "loan_interest"]
    if interest:
        await _post(api, "/api/v1/loans/interest-subsidies", {
            "period_start": "2020-01-01", "period_end": "2020-06-30", "allocation_id": interest[0]},
            headers={"Idempotency-Key": "demo-subsidy-2020h1"})
    return posted


async def _publicize_in_2020(funds: Database, settings: Settings, officer: Principal, batch: int, opened) -> None:
    """The batch's 公示 opened on ``opened`` and closed at the end of its term, applied as funds' worker does."""
    with clock_installed():
        async with funds.sessionmaker() as f:
            with funds_clock(opened):
                notice_id = await batches.publicize(session=f, principal=officer, services=RegionNames(),
                                                    disbursement_id=batch, days=None,
                                                    min_days=settings.notice_min_days)
            with funds_clock(opened + timedelta(days=settings.notice_min_days, hours=1)):
                notice = await notices.close(session=f, principal=officer, notice_id=notice_id)
            payload = await notices.closed_payload(f, notice, outcome="closed")
            await f.commit()
            await batch_events.notice_closed(f, {"payload": payload, "source": "funds"}, {})
            await f.commit()
