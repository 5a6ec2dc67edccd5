"""贴息 (CONTRACT §7), set-based: per loan in the allocation's region, Σ over the period's days not subsidized
before, on which the borrower's household was ``registered``, ``returned`` or ``exited`` (its status on that day,
from the registry's status history: registering a household later pays nothing for the days before), of the day's
outstanding principal × rate ÷ 360, rounded half-up to the fen per loan; paid from the loan_interest allocation in
one balanced entry (nothing changes if it cannot pay). The loans' principal over time is ``loan.steps``
(state.LoanState.steps), so the whole computation is one SQL statement over all loans."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations import service as allocations
from services.funds.clients import registry
from services.funds.glossary import SUBSIDIZED_HOUSEHOLD_STATUSES, EntryKind
from services.funds.ledger import service as ledger
from services.funds.loans import repository as repo
from services.funds.loans import service as loans
from services.funds.loans import state as st
from services.funds.loans.models import InterestSubsidy
from services.funds.loans.schemas import SubsidyIn
from shared import audit
from shared.auth import Principal
from shared.http import ServiceClient
from shared.money import from_fen
from shared.problems import NotFound


async def _backfill_steps(session: AsyncSession, region: str, last: date) -> None:
    """Loans written before ``loan.steps`` existed get theirs from their events."""
    old = await repo.without_steps(session, within=region, last=last)
    if old:
        events = await loans.events_of(session, [x.loan_no for x in old])
        for loan in old:
            loans.apply_state(loan, st.replay(events[loan.loan_no]))
        await session.flush()


async def subsidize(*, session: AsyncSession, principal: Principal, services: ServiceClient,
                    subsidy_in: SubsidyIn) -> dict[str, Any]:
    """The answer as SubsidyRead says, as plain JSON (a county's lines are many: no model per line)."""
    allocation = await allocations.get(session=session, principal=principal, allocation_id=subsidy_in.allocation_id)
    if not principal.covers(allocation.region_code):
        raise NotFound("No such allocation")
    if allocation.purpose != "loan_interest":
        raise ledger.EarmarkViolation("贴息 is paid only from a loan_interest (小额信贷贴息) allocation")
    first, last = subsidy_in.period_start, subsidy_in.period_end
    region = allocation.region_code
    await repo.one_subsidy_at_a_time(session)
    borrowers = await repo.borrowers(session, within=region, last=last)
    subsidy = InterestSubsidy(period_start=first, period_end=last, allocation_id=allocation.id, total=0, lines=[],
                              created_by=principal.sub)
    session.add(subsidy)
    await session.flush()
    lines: list[dict[str, Any]] = []
    if borrowers:
        await _backfill_steps(session, region, last)
        history = await registry.status_history(services, borrowers)
        hid, lo, hi = [], [], []
        for household_id, spans in history.items():
            for status, a, b in spans:
                if status in SUBSIDIZED_HOUSEHOLD_STATUSES:
                    hid.append(household_id), lo.append(a), hi.append(b)
        rows = await repo.subsidy_lines(session, within=region, first=first, last=last, subsidy_id=subsidy.id,
                                        eligible=(hid, lo, hi))
        lines = [{"loan_no": r.loan_no, "days": r.days, "amount": f"{from_fen(r.fen):f}"} for r in rows]
        subsidy.total = sum(r.fen for r in rows)
    total = subsidy.total
    subsidy.lines = lines
    if total:
        acc = await ledger.accounts(session, [allocation.id])
        subsidy.entry_id = await ledger.post(session, kind=EntryKind.spend, ref=f"interest_subsidy:{subsidy.id}",
                                             actor=principal.sub, memo=f"贴息 {first}–{last}",
                                             lines=[(acc[(allocation.id, "available")]["id"], -total),
                                                    (acc[(allocation.id, "spent")]["id"], total)])
    await session.flush()
    await audit.record(session, actor=principal.sub, action="loan.interest_subsidy", entity="interest_subsidy",
                       entity_id=subsidy.id, diff={**subsidy_in.model_dump(mode="json"),
                                                   "total": f"{from_fen(total):f}", "entry_id": subsidy.entry_id,
                                                   "loans": len(lines)})
    return {"period_start": first.isoformat(), "period_end": last.isoformat(), "allocation_id": allocation.id,
            "total": f"{from_fen(total):f}", "lines": lines}
