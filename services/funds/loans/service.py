"""扶贫小额信贷: events posted by partner banks, loans as their events say, 贴息 paid from a loan_interest
allocation, and the county's loan statistics."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations import service as allocations
from services.funds.glossary import (LOAN_EVENT_LABELS, LOAN_STATUS_LABELS, SUBSIDIZED_HOUSEHOLD_STATUSES, EntryKind,
                                     LoanStatus)
from services.funds.ledger import service as ledger
from services.funds.loans import state as st
from services.funds.loans.models import InterestSubsidy, Loan, LoanEvent, SubsidizedDays
from services.funds.loans.schemas import (LoanEventIn, LoanEventRead, LoanRead, LoanStats, ScheduleItem, SubsidyIn,
                                          SubsidyLine, SubsidyRead)
from shared import audit, regions
from shared.auth import Principal
from shared.http import ServiceClient, UpstreamProblem
from shared.idnumber import mask
from shared.money import from_fen, to_fen
from shared.pagination import decode_cursor, page
from shared.pii import PiiCipher
from shared.problems import Conflict, NotFound, Unprocessable

NOT_FOUND = "No such loan"


def _unprocessable(field: str, msg: str) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", field], "msg": msg, "type": "value_error"}])


async def _events_of(session: AsyncSession, loan_nos: list[str]) -> dict[str, list[LoanEvent]]:
    """Each loan's events in the order they apply, in one query."""
    out: dict[str, list[LoanEvent]] = {n: [] for n in loan_nos}
    for e in (await session.execute(select(LoanEvent).where(LoanEvent.loan_no.in_(loan_nos)).order_by(
            LoanEvent.occurred_at, LoanEvent.id))).scalars().all():
        out[e.loan_no].append(e)
    return out


async def _events(session: AsyncSession, loan_no: str) -> list[LoanEvent]:
    return (await _events_of(session, [loan_no]))[loan_no]


def _schedule(s: st.LoanState, today: date) -> list[ScheduleItem]:
    """按季付息、到期还本: interest every three months from the issue day, the outstanding principal at maturity;
    amounts at today's outstanding principal and rate. Past due dates are left out."""
    end = st.maturity(s)
    if end is None or s.outstanding <= 0 or s.status in (LoanStatus.settled, LoanStatus.defaulted):
        return []
    items, prev, k = [], s.issued_on, 1
    while prev < end:
        due = min(st.add_months(s.issued_on, 3 * k), end)
        fen = Decimal(s.outstanding) * (s.rate or Decimal(0)) * (due - prev).days / 360
        if due >= today:
            items.append(ScheduleItem(due_on=due, principal=from_fen(s.outstanding if due == end else 0),
                                      interest=from_fen(int(fen.quantize(Decimal(1), rounding=ROUND_HALF_UP)))))
        prev, k = due, k + 1
    return items


def read(loan: Loan, events: list[LoanEvent]) -> LoanRead:
    s = st.replay(events)
    today = datetime.now(st.CHINA).date()
    return LoanRead(
        loan_no=loan.loan_no, bank_code=loan.bank_code, household_id=loan.household_id, region_code=loan.region_code,
        id_number=loan.id_masked, status=loan.status, status_label=LOAN_STATUS_LABELS[loan.status],
        rating=loan.rating, credit_line=from_fen(loan.credit_line), principal=from_fen(loan.principal),
        outstanding=from_fen(loan.outstanding), rate=loan.rate, term_months=loan.term_months,
        issued_on=loan.issued_on, matures_on=st.maturity(s), days_overdue=st.days_overdue(s, today),
        events=[LoanEventRead(event_id=e.event_id, kind=e.kind, kind_label=LOAN_EVENT_LABELS[e.kind],
                              occurred_at=e.occurred_at, amount=from_fen(e.amount) if e.amount is not None else None,
                              received_at=e.received_at) for e in events],
        schedule=_schedule(s, today))


async def _borrower(services: ServiceClient, principal: Principal, id_number: str) -> dict[str, Any]:
    """The borrower's household from the registry: a 建档立卡 household in the bank's region, or 422."""
    try:
        person = await services.request("GET", "registry", f"/api/v1/persons/by-id-number/{id_number}")
    except UpstreamProblem as exc:
        if exc.status == 404:
            raise _unprocessable("id_number", "The borrower is not a member of a registered household") from None
        raise
    answer = await services.request("POST", "registry", "/internal/households/eligibility", json={
        "household_ids": [person["household_id"]], "region_code": principal.region})
    [household] = answer["items"]
    if not household["in_region"]:
        raise _unprocessable("id_number", "The borrower's household is outside your bank's region")
    return household


async def post_event(*, session: AsyncSession, principal: Principal, services: ServiceClient, cipher: PiiCipher,
                     event_in: LoanEventIn) -> tuple[bool, Loan, list[LoanEvent]]:
    """Store the event once and recompute its loan; (stored?, loan, its events in order)."""
    bank = principal.bank or ""
    body = event_in.model_dump(mode="json")
    body_hash = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    id_hmac = cipher.digest(event_in.id_number, field="id_number")
    loan = (await session.execute(select(Loan).where(Loan.loan_no == event_in.loan_no).with_for_update()
                                  )).scalars().first()
    if loan is None:
        household = await _borrower(services, principal, event_in.id_number)
        await session.execute(insert(Loan.__table__).values(
            loan_no=event_in.loan_no, bank_code=bank, household_id=household["household_id"],
            region_code=household["village_code"], id_masked=mask(event_in.id_number), status="rated",
        ).on_conflict_do_nothing(index_elements=["loan_no"]))
        loan = (await session.execute(select(Loan).where(Loan.loan_no == event_in.loan_no).with_for_update()
                                      .execution_options(populate_existing=True))).scalars().one()
    if loan.bank_code != bank:
        raise NotFound(NOT_FOUND)          # another bank's loan: as if it did not exist
    events = await _events(session, loan.loan_no)
    same = next((e for e in events if e.event_id == event_in.event_id), None)
    if same is None:
        same = (await session.execute(select(LoanEvent).where(LoanEvent.bank_code == bank,
                                                              LoanEvent.event_id == event_in.event_id))).scalars().first()
    if same is not None:
        if same.body_hash != body_hash:
            raise Conflict(f"event {event_in.event_id} was stored with other content", slug="event-id-reused")
        return False, loan, events
    if events and events[0].id_hmac != id_hmac:
        raise Conflict(f"loan {loan.loan_no} belongs to another borrower", slug="borrower-mismatch")
    event = LoanEvent(bank_code=bank, event_id=event_in.event_id, loan_no=loan.loan_no, kind=event_in.kind.value,
                      occurred_at=event_in.occurred_at,
                      amount=to_fen(event_in.amount) if event_in.amount is not None else None,
                      rate=event_in.rate, term_months=event_in.term_months,
                      credit_line=to_fen(event_in.credit_line) if event_in.credit_line is not None else None,
                      rating=event_in.rating, id_hmac=id_hmac, body_hash=body_hash)
    session.add(event)
    await session.flush()
    events = await _events(session, loan.loan_no)
    s = st.replay(events)
    loan.status, loan.rating, loan.credit_line = s.status, s.rating, s.credit_line
    loan.principal, loan.outstanding, loan.rate, loan.term_months = s.principal, s.outstanding, s.rate, s.term_months
    loan.issued_on, loan.overdue_since, loan.compensated = s.issued_on, s.overdue_since, s.compensated
    loan.updated_at = datetime.now(UTC)
    await session.flush()
    await audit.record(session, actor=principal.sub, action=f"loan.{event_in.kind.value}", entity="loan",
                       entity_id=loan.loan_no, diff={**body, "id_number": loan.id_masked})
    return True, loan, events


async def get(*, session: AsyncSession, principal: Principal, loan_no: str) -> tuple[Loan, list[LoanEvent]]:
    loan = await session.get(Loan, loan_no)
    if loan is None or not _sees(principal, loan):
        raise NotFound(NOT_FOUND)
    return loan, await _events(session, loan.loan_no)


def _sees(principal: Principal, loan: Loan) -> bool:
    if principal.bank is not None or principal.role == "bank":
        return loan.bank_code == principal.bank
    return principal.covers(loan.region_code)


async def list_(*, session: AsyncSession, principal: Principal, region: str | None, status: str | None, limit: int,
                cursor: str | None) -> tuple[list[tuple[Loan, list[LoanEvent]]], str | None]:
    q = select(Loan)
    scope = region or principal.region
    if scope:
        if principal.role != "bank" and not principal.covers(scope):
            raise NotFound("No such region")
        q = q.where(Loan.region_code.startswith(regions.prefix(scope)))
    if principal.role == "bank":
        q = q.where(Loan.bank_code == (principal.bank or ""))
    if status is not None:
        q = q.where(Loan.status == status)
    if (key := decode_cursor(cursor, loan_no=str)) is not None:
        q = q.where(Loan.loan_no > key["loan_no"])
    rows = list((await session.execute(q.order_by(Loan.loan_no).limit(limit + 1))).scalars().all())
    rows, next_cursor = page(rows, limit, lambda loan: {"loan_no": loan.loan_no})
    events = await _events_of(session, [loan.loan_no for loan in rows])
    return [(loan, events[loan.loan_no]) for loan in rows], next_cursor


async def stats(*, session: AsyncSession, principal: Principal, region: str | None) -> LoanStats:
    scope = region or principal.region
    if not principal.covers(scope):
        raise NotFound("No such region")
    r = (await session.execute(text("""
        SELECT count(DISTINCT household_id) FILTER (WHERE credit_line > 0) AS households_rated,
          coalesce(sum(credit_line), 0) AS credit_granted,
          count(*) FILTER (WHERE principal > 0) AS loans_issued, coalesce(sum(principal), 0) AS amount_issued,
          coalesce(sum(outstanding), 0) AS outstanding,
          coalesce(sum(outstanding) FILTER (WHERE status = 'overdue'), 0) AS overdue_outstanding,
          coalesce(sum(compensated), 0) AS compensated
        FROM loan WHERE region_code LIKE :p"""), {"p": regions.prefix(scope) + "%"})).mappings().one()
    compensated = r["compensated"]
    repaid = r["amount_issued"] - r["outstanding"] - compensated
    return LoanStats(
        region_code=scope, households_rated=r["households_rated"], credit_granted=from_fen(r["credit_granted"]),
        loans_issued=r["loans_issued"], amount_issued=from_fen(r["amount_issued"]),
        outstanding=from_fen(r["outstanding"]), overdue_outstanding=from_fen(r["overdue_outstanding"]),
        overdue_rate=round(r["overdue_outstanding"] / r["outstanding"], 4) if r["outstanding"] else None,
        repaid=from_fen(repaid), compensated=from_fen(compensated),
        recovery_rate=round(repaid / (repaid + compensated), 4) if repaid + compensated else None)


async def subsidize(*, session: AsyncSession, principal: Principal, services: ServiceClient,
                    subsidy_in: SubsidyIn) -> SubsidyRead:
    """贴息 for the period: per loan in the allocation's region whose household is registered, returned or exited,
    Σ over the period's days not subsidized before of the day's outstanding principal × rate ÷ 360, rounded half-up
    to the fen per loan; paid from the loan_interest allocation in one entry (nothing changes if it cannot pay)."""
    allocation = await allocations.get(session=session, principal=principal, allocation_id=subsidy_in.allocation_id)
    if not principal.covers(allocation.region_code):
        raise NotFound("No such allocation")
    if allocation.purpose != "loan_interest":
        raise ledger.EarmarkViolation("贴息 is paid only from a loan_interest (小额信贷贴息) allocation")
    first, last = subsidy_in.period_start, subsidy_in.period_end
    loans = list((await session.execute(select(Loan).where(
        Loan.region_code.startswith(regions.prefix(allocation.region_code)), Loan.issued_on.is_not(None),
        Loan.issued_on <= last).order_by(Loan.loan_no).with_for_update())).scalars().all())
    statuses: dict[int, str] = {}
    if loans:
        answer = await services.request("POST", "registry", "/internal/households/eligibility", json={
            "household_ids": sorted({loan.household_id for loan in loans}), "region_code": allocation.region_code})
        statuses = {i["household_id"]: i.get("status") for i in answer["items"]}
    loans = [loan for loan in loans if statuses.get(loan.household_id) in SUBSIDIZED_HOUSEHOLD_STATUSES]
    numbers = [loan.loan_no for loan in loans]
    events = await _events_of(session, numbers)
    covered: dict[str, list[tuple[date, date]]] = {n: [] for n in numbers}
    for r in (await session.execute(select(SubsidizedDays).where(SubsidizedDays.loan_no.in_(numbers)))).scalars():
        covered[r.loan_no].append((r.first_day, r.last_day))
    lines, days_rows = [], []
    for loan in loans:
        ranges = st.uncovered(first, last, covered[loan.loan_no])
        s = st.replay(events[loan.loan_no])
        days, fen = st.interest(s.steps, ranges)
        if fen <= 0:
            continue
        lines.append({"loan_no": loan.loan_no, "days": days, "amount": fen})
        days_rows += [(loan.loan_no, a, b, fen if i == 0 else 0, st.interest(s.steps, [(a, b)])[0])
                      for i, (a, b) in enumerate(ranges)]
    total = sum(x["amount"] for x in lines)
    subsidy = InterestSubsidy(period_start=first, period_end=last, allocation_id=allocation.id, total=total,
                              lines=[{**x, "amount": f"{from_fen(x['amount']):f}"} for x in lines],
                              created_by=principal.sub)
    session.add(subsidy)
    await session.flush()
    if total:
        acc = await ledger.accounts(session, [allocation.id])
        subsidy.entry_id = await ledger.post(session, kind=EntryKind.spend, ref=f"interest_subsidy:{subsidy.id}",
                                             actor=principal.sub, memo=f"贴息 {first}–{last}",
                                             lines=[(acc[(allocation.id, "available")]["id"], -total),
                                                    (acc[(allocation.id, "spent")]["id"], total)])
    for loan_no, a, b, fen, n in days_rows:
        session.add(SubsidizedDays(loan_no=loan_no, first_day=a, last_day=b, subsidy_id=subsidy.id, amount=fen,
                                   days=n))
    await session.flush()
    await audit.record(session, actor=principal.sub, action="loan.interest_subsidy", entity="interest_subsidy",
                       entity_id=subsidy.id, diff={**subsidy_in.model_dump(mode="json"), "total": f"{from_fen(total):f}",
                                                   "entry_id": subsidy.entry_id, "loans": len(lines)})
    return SubsidyRead(period_start=first, period_end=last, allocation_id=allocation.id, total=from_fen(total),
                       lines=[SubsidyLine(loan_no=x["loan_no"], days=x["days"], amount=from_fen(x["amount"]))
                              for x in lines])

