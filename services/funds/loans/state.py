"""A loan's state from its events, and its daily outstanding principal (for 贴息). Pure functions, no I/O.

Events apply in ``occurred_at`` order (ties in arrival order): ``rated`` sets the rating and credit line;
``issued`` lends ``amount`` at ``rate`` for ``term_months``; ``repaid`` lowers the outstanding principal (to zero:
settled); ``overdue`` marks it overdue from that day; ``extended`` (展期) gives a new term and, if given, rate;
``settled`` closes it at zero; ``defaulted`` (代偿) ends it with what was still outstanding compensated."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

CHINA = timezone(timedelta(hours=8))


class EventLike(Protocol):
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
    for e in events:
        day = day_of(e.occurred_at)
        if e.kind == "rated":
            s.rating = e.rating or s.rating
            s.credit_line = e.credit_line if e.credit_line is not None else s.credit_line
        elif e.kind == "issued":
            s.principal += e.amount or 0
            s.outstanding += e.amount or 0
            s.rate = e.rate if e.rate is not None else s.rate
            s.term_months = e.term_months or s.term_months
            s.issued_on = s.issued_on or day
            s.status = "issued"
        elif e.kind == "repaid":
            s.outstanding = max(0, s.outstanding - (e.amount or 0))
            if s.outstanding == 0 and s.principal > 0:
                s.status = "settled"
        elif e.kind == "overdue":
            if s.outstanding > 0:
                s.status, s.overdue_since = "overdue", day
        elif e.kind == "extended":
            s.term_months = e.term_months or s.term_months
            s.rate = e.rate if e.rate is not None else s.rate
            if s.outstanding > 0:
                s.status, s.overdue_since = "extended", None
        elif e.kind == "settled":
            s.outstanding, s.status, s.overdue_since = 0, "settled", None
        elif e.kind == "defaulted":
            s.compensated, s.outstanding, s.status = s.outstanding, 0, "defaulted"
        if s.status != "overdue":
            s.overdue_since = None
        if e.kind != "rated" and s.principal > 0:
            s.steps.append((day, s.outstanding, s.rate or Decimal(0)))
    return s


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


def interest(steps: Sequence[tuple[date, int, Decimal]], days: Iterable[tuple[date, date]]) -> tuple[int, int]:
    """(days, fen) accrued over the inclusive day ranges: Σ outstanding principal of the day × rate ÷ 360, rounded
    half-up to the fen once for the whole. A day's principal is what stood at the end of the previous step: the
    issue day accrues, a repayment's day does not for the part repaid."""
    exact, count = Decimal(0), 0
    for first, last in days:
        for i, (start, amount, rate) in enumerate(steps):
            end = steps[i + 1][0] - timedelta(days=1) if i + 1 < len(steps) else last
            lo, hi = max(first, start), min(last, end)
            if lo > hi or amount <= 0:
                continue
            n = (hi - lo).days + 1
            count += n
            exact += Decimal(amount) * rate * n / 360
    return count, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def uncovered(first: date, last: date, covered: Sequence[tuple[date, date]]) -> list[tuple[date, date]]:
    """The parts of [first, last] outside the covered ranges."""
    out, cursor = [], first
    for a, b in sorted(covered):
        if b < cursor or a > last:
            continue
        if a > cursor:
            out.append((cursor, a - timedelta(days=1)))
        cursor = max(cursor, b + timedelta(days=1))
        if cursor > last:
            break
    if cursor <= last:
        out.append((cursor, last))
    return out
