"""A loan's state from its events, and its outstanding principal over time (``steps``, which 贴息 reads in SQL:
subsidy.py). Pure functions, no I/O.

Order. Events apply in ``occurred_at`` order; events at the same moment apply in the natural business order of
their kinds, :data:`PRECEDENCE` (credit is granted before it is lent, money moves before the day's status is
judged, an overdue is recorded before the extension that cures it, and a loan ends last), then by ``event_id``.
Nothing depends on the order the events arrived in, and a repeated ``event_id`` counts once: :func:`replay` of
any permutation of a loan's events, with duplicates, gives the same state.

Kinds. ``rated`` sets the rating and credit line; ``issued`` lends ``amount`` at ``rate`` for ``term_months``
(once); ``repaid`` lowers the outstanding principal (partly: ``repaying`` 还款中, an overdue loan stays overdue;
to zero: ``settled``); ``overdue`` marks it overdue from that day (a spell lasts until an extension or the end);
``extended`` (展期) gives a new term and, if given, rate; ``settled`` closes it at zero; ``defaulted`` (代偿) ends it
with what was still outstanding compensated. Events other than ``rated`` before the loan is issued wait for it
(they change nothing until the ``issued`` event is known).

Impossible events (:func:`impossible`) are refused when they arrive: a second ``issued``; an event before the
issue; any event after the loan ended (``settled``, ``defaulted``, or repaid in full, after which only a
``settled`` may follow); a repayment of more than is outstanding. Each rule only gets more certain as events
arrive (what a subset of a loan's events breaks, every superset breaks too), so a history that is possible as a
whole is accepted whatever order its events arrive in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Protocol

CHINA = timezone(timedelta(hours=8))
PRECEDENCE = {"rated": 0, "issued": 1, "repaid": 2, "overdue": 3, "extended": 4, "settled": 5, "defaulted": 6}
ENDS = frozenset({"settled", "defaulted"})


class EventLike(Protocol):
    event_id: str
    kind: str
    occurred_at: datetime
    amount: int | None
    rate: Decimal | None
    term_months: int | None
    credit_line: int | None
    rating: str | None


def day_of(at: datetime) -> date:
    """The calendar day in China of a moment (banks post aware times with any offset)."""
    return at.astimezone(CHINA).date()


def order_key(e: EventLike) -> tuple[datetime, int, str]:
    return e.occurred_at, PRECEDENCE[e.kind], e.event_id


def ordered(events: Iterable[EventLike]) -> list[EventLike]:
    """The events in the order they apply, each ``event_id`` once."""
    out: list[EventLike] = []
    for e in sorted(events, key=order_key):
        if not out or out[-1].event_id != e.event_id:
            out.append(e)
    return out


@dataclass
class LoanState:
    status: str = "rated"
    rating: str | None = None
    credit_line: int = 0
    principal: int = 0
    outstanding: int = 0
    rate: Decimal | None = None
    term_months: int | None = None
    issued_on: date | None = None
    overdue_since: date | None = None
    compensated: int = 0
    # (first day, outstanding from that day, rate from that day): the loan's principal over time
    steps: list[tuple[date, int, Decimal]] = field(default_factory=list)


def replay(events: Iterable[EventLike]) -> LoanState:
    s = LoanState()
    ended = False
    for e in ordered(events):
        day = day_of(e.occurred_at)
        if e.kind == "rated":
            if not ended:
                s.rating = e.rating or s.rating
                s.credit_line = e.credit_line if e.credit_line is not None else s.credit_line
            continue
        if e.kind == "issued":
            if s.issued_on is not None:
                continue
            s.principal = s.outstanding = e.amount or 0
            s.rate, s.term_months, s.issued_on, s.status = e.rate, e.term_months, day, "issued"
        elif s.issued_on is None or ended:
            continue
        elif e.kind == "repaid":
            s.outstanding = max(0, s.outstanding - (e.amount or 0))
            if s.outstanding == 0:
                s.status, ended = "settled", True
            elif s.status != "overdue":
                s.status = "repaying"
        elif e.kind == "overdue":
            if s.status != "overdue":
                s.status, s.overdue_since = "overdue", day
        elif e.kind == "extended":
            s.term_months = e.term_months or s.term_months
            s.rate = e.rate if e.rate is not None else s.rate
            s.status = "extended"
        elif e.kind == "settled":
            s.outstanding, s.status, ended = 0, "settled", True
        elif e.kind == "defaulted":
            s.compensated, s.outstanding, s.status, ended = s.outstanding, 0, "defaulted", True
        if s.status != "overdue":
            s.overdue_since = None
        s.steps.append((day, s.outstanding, s.rate or Decimal(0)))
    return s


def impossible(events: Iterable[EventLike]) -> dict[str, str]:
    """event_id → why it cannot be, for the events of one loan that break a rule (see the module's doc)."""
    bad: dict[str, str] = {}
    issued: EventLike | None = None
    ended: str | None = None            # why nothing (or only a settled) may follow
    only_settled = False
    outstanding = 0
    for e in ordered(events):
        if ended is not None and not (only_settled and e.kind == "settled"):
            bad[e.event_id] = ended
            continue
        if e.kind == "issued":
            if issued is not None:
                bad[e.event_id] = f"the loan was already issued (event {issued.event_id})"
                continue
            issued, outstanding = e, e.amount or 0
        elif e.kind != "rated" and issued is None:
            continue                    # waits for its issue, which may still arrive
        if e.kind == "repaid":
            if (e.amount or 0) > outstanding:
                bad[e.event_id] = (f"repays {e.amount / 100:.2f} but only {outstanding / 100:.2f} was outstanding "
                                   f"then")
                continue
            outstanding -= e.amount or 0
            if outstanding == 0:
                ended, only_settled = f"the loan was repaid in full on {day_of(e.occurred_at)}", True
        elif e.kind in ENDS:
            ended, only_settled = f"the loan was {e.kind} on {day_of(e.occurred_at)}", False
    if issued is not None:
        for e in ordered(events):
            if e.kind != "rated" and order_key(e) < order_key(issued) and e.event_id not in bad:
                bad[e.event_id] = f"it is before the loan was issued ({day_of(issued.occurred_at)})"
    return bad


def add_months(d: date, n: int) -> date:
    """The same day ``n`` months later (the month's last day when it has fewer days)."""
    month = d.month - 1 + n
    year, month = d.year + month // 12, month % 12 + 1
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(d.day, (nxt - timedelta(days=1)).day))


def maturity(s: LoanState) -> date | None:
    if s.issued_on is None or not s.term_months:
        return None
    return add_months(s.issued_on, s.term_months)


def days_overdue(s: LoanState, today: date) -> int:
    return max(0, (today - s.overdue_since).days) if s.status == "overdue" and s.overdue_since else 0
