"""Loan reminders (``loan.reminder`` to notifications), written by a daily funds cron: once per loan per overdue
spell (a spell is known by the day it became overdue) and once per due date for loans due in
:data:`DUE_SOON_DAYS` days (按季付息、到期还本: every three months from the issue day, and the maturity).
``loan_reminder`` remembers what was written, so a run that is repeated (or a worker restarted) writes nothing
twice. The head's name and full mobile come from the registry in one call per 10,000 households, as a payment
batch gets them for ``payment.paid``. Payload::

    {"loan_no", "kind": "overdue"|"due_soon", "household_id", "region_code", "bank_code", "head_name",
     "head_phone": full mobile or null, "due_on": "YYYY-MM-DD", "outstanding": "1234.00", "days_overdue": int}
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.clients import registry
from services.funds.loans import repository as repo
from services.funds.loans.state import CHINA
from shared import audit
from shared.http import ServiceClient
from shared.money import from_fen

DUE_SOON_DAYS = 3


async def _heads(services: ServiceClient, loans: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The registry's item for each borrower household, asked per county."""
    counties: dict[str, set[int]] = {}
    for x in loans:
        counties.setdefault(x["region_code"][:6] + "000000", set()).add(x["household_id"])
    out: dict[int, dict[str, Any]] = {}
    for county, ids in counties.items():
        out.update(await registry.eligibility(services, ids, county))
    return out


async def remind(*, session: AsyncSession, services: ServiceClient, today: date) -> int:
    """Write today's reminders to the outbox; how many."""
    made = await repo.remember_due(session, due_soon_on=today + timedelta(days=DUE_SOON_DAYS))
    if not made:
        return 0
    loans = await repo.reminded(session, [m.loan_no for m in made])
    heads = await _heads(services, list(loans.values()))
    rows = []
    for m in made:
        loan, head = loans[m.loan_no], heads.get(loans[m.loan_no]["household_id"], {})
        rows.append({"event_id": uuid.uuid4(), "topic": "loan.reminder", "destinations": ["notifications"],
                     "payload": {"loan_no": m.loan_no, "kind": m.kind, "household_id": loan["household_id"],
                                 "region_code": loan["region_code"], "bank_code": loan["bank_code"],
                                 "head_name": head.get("head_name"), "head_phone": head.get("phone"),
                                 "due_on": m.on.isoformat(), "outstanding": f"{from_fen(loan['outstanding']):f}",
                                 "days_overdue": max(0, (today - m.on).days) if m.kind == "overdue" else 0}})
    await repo.add_outbox(session, rows)
    await audit.record(session, actor="svc:funds", action="loan.reminders", entity="loan_reminder",
                       entity_id=today.isoformat(), diff={"overdue": sum(m.kind == "overdue" for m in made),
                                                         "due_soon": sum(m.kind == "due_soon" for m in made)})
    return len(rows)


async def send_reminders(ctx: dict[str, Any]) -> int:
    """The daily cron (services/funds/worker.py)."""
    async with ctx["db"].sessionmaker() as session:
        n = await remind(session=session, services=ctx["services"], today=datetime.now(CHINA).date())
        await session.commit()
    return n
