"""贴息 (CONTRACT §7), set-based: per loan in the allocation's region, Σ over the period's days not subsidized
before, on which the borrower's household was ``registered``, ``returned`` or ``exited`` (its status on that day,
from the registry's status history: registering a household later pays nothing for the days before), of the day's
outstanding principal × rate ÷ 360, rounded half-up to the fen per loan; paid from the loan_interest allocation in
one balanced entry (nothing changes if it cannot pay). The loans' principal over time is ``loan.steps``
(state.LoanState.steps), so the whole computation is one SQL statement over all loans."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations import service as allocations
from services.funds.clients import registry
from services.funds.glossary import SUBSIDIZED_HOUSEHOLD_STATUSES, EntryKind
from services.funds.ledger import service as ledger
from services.funds.loans import service as loans
from services.funds.loans import state as st
from services.funds.loans.models import InterestSubsidy, Loan
from services.funds.loans.schemas import SubsidyIn
from shared import audit, regions
from shared.auth import Principal
from shared.http import ServiceClient
from shared.money import from_fen
from shared.problems import NotFound

CANDIDATES = "region_code LIKE :p AND issued_on IS NOT NULL AND issued_on <= :last"

# One statement: per loan and paid range (the period's days not paid before ∩ the days its household was
# eligible), the days that accrued and Σ fen × rate × days; per loan ÷ 360 once, rounded half-up; the paid ranges
# of the loans that get something written to subsidized_days; the lines returned.
COMPUTE = f"""
WITH elig AS (
  SELECT e.household_id, range_agg(daterange(e.lo, e.hi, '[)')) AS days
  FROM unnest(CAST(:hid AS bigint[]), CAST(:lo AS text[])::date[], CAST(:hi AS text[])::date[])
       AS e(household_id, lo, hi)
  GROUP BY e.household_id),
cand AS (SELECT loan_no, household_id, steps FROM loan WHERE {CANDIDATES}),
covered AS (
  SELECT d.loan_no, range_agg(daterange(d.first_day, d.last_day, '[]')) AS days
  FROM subsidized_days d JOIN cand c ON c.loan_no = d.loan_no GROUP BY d.loan_no),
paid AS (
  SELECT c.loan_no, r AS days
  FROM cand c JOIN elig e ON e.household_id = c.household_id LEFT JOIN covered cv ON cv.loan_no = c.loan_no
  CROSS JOIN LATERAL unnest((datemultirange(daterange(CAST(:first AS date), CAST(:last AS date), '[]'))
                             - coalesce(cv.days, '{{}}'::datemultirange)) * e.days) AS r),
steps AS (
  SELECT c.loan_no, (x->>0)::date AS day, (x->>1)::bigint AS fen, (x->>2)::numeric AS rate,
         lead((x->>0)::date) OVER (PARTITION BY c.loan_no ORDER BY t.ord) AS next_day
  FROM cand c CROSS JOIN LATERAL jsonb_array_elements(c.steps) WITH ORDINALITY AS t(x, ord)),
accrual AS (
  SELECT p.loan_no, p.days AS paid, s.fen, s.rate, p.days * daterange(s.day, s.next_day, '[)') AS d
  FROM paid p JOIN steps s ON s.loan_no = p.loan_no
  WHERE s.fen > 0 AND s.rate > 0 AND (s.next_day IS NULL OR s.next_day > s.day)),
per_range AS (
  SELECT loan_no, paid, sum(upper(d) - lower(d))::int AS days, sum(fen * rate * (upper(d) - lower(d))) AS exact
  FROM accrual WHERE NOT isempty(d) GROUP BY loan_no, paid),
per_loan AS (
  SELECT loan_no, paid, days, round(sum(exact) OVER (PARTITION BY loan_no) / 360)::bigint AS fen,
         sum(days) OVER (PARTITION BY loan_no)::int AS loan_days,
         row_number() OVER (PARTITION BY loan_no ORDER BY lower(paid)) AS n
  FROM per_range),
kept AS (
  INSERT INTO subsidized_days (loan_no, first_day, last_day, subsidy_id, amount, days)
  SELECT loan_no, lower(paid), upper(paid) - 1, :sid, CASE WHEN n = 1 THEN fen ELSE 0 END, days
  FROM per_loan WHERE fen > 0)
SELECT loan_no, loan_days AS days, fen FROM per_loan WHERE n = 1 AND fen > 0 ORDER BY loan_no"""


async def _backfill_steps(session: AsyncSession, prefix: str, last: date) -> None:
    """Loans written before ``loan.steps`` existed get theirs from their events."""
    old = list((await session.execute(select(Loan).where(
        Loan.region_code.startswith(prefix), Loan.issued_on.is_not(None), Loan.issued_on <= last,
        text("loan.steps = '[]'::jsonb")))).scalars().all())
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
    prefix = regions.prefix(allocation.region_code)
    args = {"p": prefix + "%", "first": first, "last": last}
    # one computation at a time (whatever its region): the next one's statement sees the days this one paid
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('jingzhun.interest_subsidy'))"))
    borrowers = (await session.execute(text(f"SELECT DISTINCT household_id FROM loan WHERE {CANDIDATES}"),
                                       args)).scalars().all()
    subsidy = InterestSubsidy(period_start=first, period_end=last, allocation_id=allocation.id, total=0, lines=[],
                              created_by=principal.sub)
    session.add(subsidy)
    await session.flush()
    lines: list[dict[str, Any]] = []
    if borrowers:
        await _backfill_steps(session, prefix, last)
        history = await registry.status_history(services, borrowers)
        hid, lo, hi = [], [], []
        for household_id, spans in history.items():
            for status, a, b in spans:
                if status in SUBSIDIZED_HOUSEHOLD_STATUSES:
                    hid.append(household_id), lo.append(a), hi.append(b)
        rows = (await session.execute(text(COMPUTE), args | {"hid": hid, "lo": lo, "hi": hi, "sid": subsidy.id})).all()
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
