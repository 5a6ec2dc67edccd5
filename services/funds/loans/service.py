"""扶贫小额信贷: events posted by partner banks, loans as their events say, and the county's loan statistics
(贴息 is subsidy.py, refused events rejections.py, reminders reminders.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.clients import registry
from services.funds.glossary import LOAN_EVENT_LABELS, LOAN_STATUS_LABELS, LoanStatus
from services.funds.loans import repository as repo
from services.funds.loans import state as st
from services.funds.loans.models import Loan, LoanEvent
from services.funds.loans.schemas import LoanEventIn, LoanEventRead, LoanRead, LoanStats, ScheduleItem
from services.funds.risk_claims import service as risk_claims
from shared import audit, scoping
from shared.auth import Principal
from shared.http import ServiceClient
from shared.idnumber import mask
from shared.money import from_fen, to_fen
from shared.pagination import decode_cursor, page
from shared.pii import PiiCipher
from shared.problems import Conflict, NotFound, Unprocessable

NOT_FOUND = "No such loan"


def _unprocessable(field: str, msg: str) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", field], "msg": msg, "type": "value_error"}])


Event = LoanEvent | repo.StoredEvent      # as the ORM reads it, or as a bank's post reads it


async def events_of(session: AsyncSession, loan_nos: list[str]) -> dict[str, list[LoanEvent]]:
    """Each loan's events in the order they apply (state.ordered), in one query."""
    return {n: st.ordered(x) for n, x in (await repo.events(session, loan_nos)).items()}


async def _events(session: AsyncSession, loan_no: str) -> list[LoanEvent]:
    return (await events_of(session, [loan_no]))[loan_no]


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


def read(loan: Loan, events: list[Event]) -> LoanRead:
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
    person = await registry.person(services, id_number)
    if person is None:
        raise _unprocessable("id_number", "The borrower is not a member of a registered household")
    household = (await registry.eligibility(services, [person["household_id"]], principal.region))[
        int(person["household_id"])]
    if not household["in_region"]:
        raise _unprocessable("id_number", "The borrower's household is outside your bank's region")
    return household


def _known(same: Event, body_hash: str, loan: Loan, events: list[Event]) -> tuple[bool, Loan, list[Event]]:
    """A known event_id: nothing changes (the same body), or 409 (another)."""
    if same.body_hash != body_hash:
        raise Conflict(f"event {same.event_id} was stored with other content", slug="event-id-reused")
    return False, loan, events


def _steps_json(s: st.LoanState) -> list[list[Any]]:
    return [[d.isoformat(), fen, str(rate)] for d, fen, rate in s.steps]


def apply_state(loan: Loan, s: st.LoanState) -> None:
    loan.status, loan.rating, loan.credit_line = s.status, s.rating, s.credit_line
    loan.principal, loan.outstanding, loan.rate, loan.term_months = s.principal, s.outstanding, s.rate, s.term_months
    loan.issued_on, loan.overdue_since, loan.compensated = s.issued_on, s.overdue_since, s.compensated
    loan.steps = _steps_json(s)
    loan.updated_at = datetime.now(UTC)


async def post_event(*, session: AsyncSession, principal: Principal, services: ServiceClient, cipher: PiiCipher,
                     event_in: LoanEventIn, risk_share: Decimal) -> tuple[bool, Loan, list[Event]]:
    """Store the event once and recompute its loan; (stored?, loan, its events in order). An event the loan's
    history makes impossible (state.impossible) is 409 and changes nothing; a ``defaulted`` loan opens its
    risk claim. A stored event is audited by :func:`audit_event`, last."""
    bank = principal.bank or ""
    body = event_in.model_dump(mode="json")
    body_hash = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    id_hmac = cipher.digest(event_in.id_number, field="id_number")
    found = await repo.lock_for_bank(session, principal, event_in.loan_no)
    if found is None:
        household = await _borrower(services, principal, event_in.id_number)
        await repo.open_once(session, {
            "loan_no": event_in.loan_no, "bank_code": bank, "household_id": household["household_id"],
            "region_code": household["village_code"], "id_masked": mask(event_in.id_number), "status": "rated"})
        found = await repo.lock_for_bank(session, principal, event_in.loan_no)
    loan, own = found
    if not own:
        raise NotFound(NOT_FOUND)          # another bank's loan: as if it did not exist
    events = st.ordered(await repo.events_of_loan(session, loan.loan_no))
    same = next((e for e in events if e.event_id == event_in.event_id), None)
    if same is not None:
        return _known(same, body_hash, loan, events)
    if events and events[0].id_hmac != id_hmac:
        raise Conflict(f"loan {loan.loan_no} belongs to another borrower", slug="borrower-mismatch")
    values = {"bank_code": bank, "event_id": event_in.event_id, "loan_no": loan.loan_no, "kind": event_in.kind.value,
              "occurred_at": event_in.occurred_at,
              "amount": to_fen(event_in.amount) if event_in.amount is not None else None,
              "rate": event_in.rate, "term_months": event_in.term_months,
              "credit_line": to_fen(event_in.credit_line) if event_in.credit_line is not None else None,
              "rating": event_in.rating, "id_hmac": id_hmac, "body_hash": body_hash}
    event = repo.StoredEvent(id=None, received_at=None, **values)
    if why := st.impossible([*events, event]).get(event.event_id):
        raise Conflict(f"{event.kind} event {event.event_id} cannot be: {why}", slug="impossible-event",
                       title="Impossible loan event")
    known = events
    events = st.ordered([*events, event])
    s = st.replay(events)
    apply_state(loan, s)
    stored = await repo.store_event(session, values, loan)
    if stored is None:         # the bank used this event_id for another of its loans
        return _known(await repo.bank_event(session, principal, event_in.event_id), body_hash,
                      (await repo.lock_for_bank(session, principal, loan.loan_no))[0], known)
    event.id, event.received_at = stored
    if s.status == LoanStatus.defaulted:
        await risk_claims.open_for(session=session, loan=loan, state=s, share=risk_share,
                                   defaulted_on=st.day_of(next(e.occurred_at for e in events if e.kind == "defaulted")))
    return True, loan, events


async def audit_event(*, session: AsyncSession, principal: Principal, event_in: LoanEventIn, loan: Loan) -> None:
    """The stored event's audit row: the caller's last statement before commit (the chain's head stays locked
    from here to the commit, so nothing else may come between)."""
    await audit.record(session, actor=principal.sub, action=f"loan.{event_in.kind.value}", entity="loan",
                       entity_id=loan.loan_no, diff={**event_in.model_dump(mode="json"), "id_number": loan.id_masked})


async def get(*, session: AsyncSession, principal: Principal, loan_no: str) -> tuple[Loan, list[LoanEvent]]:
    loan = await repo.one(session, principal, loan_no)
    if loan is None:
        raise NotFound(NOT_FOUND)
    return loan, await _events(session, loan.loan_no)


async def list_(*, session: AsyncSession, principal: Principal, region: str | None, status: str | None, limit: int,
                cursor: str | None) -> tuple[list[tuple[Loan, list[LoanEvent]]], str | None]:
    """The caller's loans in ``region`` (by default the caller's own region); a bank may name any region."""
    bank = scoping.is_bank(principal)
    if region is not None and not bank and not principal.covers(region):
        raise NotFound("No such region")
    key = decode_cursor(cursor, loan_no=str)
    within = region or (principal.region if bank else None)         # a bank's list: of its own region by default
    rows = await repo.page_of(session, principal, within=within, status=status,
                              after=key["loan_no"] if key else None, limit=limit + 1)
    rows, next_cursor = page(rows, limit, lambda loan: {"loan_no": loan.loan_no})
    events = await events_of(session, [loan.loan_no for loan in rows])
    return [(loan, events[loan.loan_no]) for loan in rows], next_cursor


async def stats(*, session: AsyncSession, principal: Principal, region: str | None) -> LoanStats:
    if region is not None and not principal.covers(region):
        raise NotFound("No such region")
    scope = region or principal.region
    r = await repo.stats(session, principal, within=scope)
    compensated = r["compensated"]
    repaid = r["amount_issued"] - r["outstanding"] - compensated
    return LoanStats(
        region_code=scope, households_rated=r["households_rated"], credit_granted=from_fen(r["credit_granted"]),
        loans_issued=r["loans_issued"], amount_issued=from_fen(r["amount_issued"]),
        outstanding=from_fen(r["outstanding"]), overdue_outstanding=from_fen(r["overdue_outstanding"]),
        overdue_rate=round(r["overdue_outstanding"] / r["outstanding"], 4) if r["outstanding"] else None,
        repaid=from_fen(repaid), compensated=from_fen(compensated),
        loans_by_status={x.value: int(r["by_status"].get(x.value, 0)) for x in LoanStatus},
        recovery_rate=round(repaid / (repaid + compensated), 4) if repaid + compensated else None)
