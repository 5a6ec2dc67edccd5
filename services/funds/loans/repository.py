"""Every query on loans, their events, refusals, reminders and 贴息. A caller reads the loans of :func:`readable`
(a partner bank its own bank's, anyone else its region's): any other loan is simply not found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, distinct, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.loans.models import Loan, LoanEvent, LoanEventRejection
from shared import regions, scoping
from shared.auth import Principal
from shared.db import driver
from shared.outbox import CHANNEL
from shared.tables import outbox

loan_t = Loan.__table__
event_t = LoanEvent.__table__
rejection_t = LoanEventRejection.__table__


def visible(principal: Principal) -> ColumnElement[bool]:
    return scoping.own_bank_or_subtree(Loan.bank_code, Loan.region_code, principal)


def readable(principal: Principal) -> Select:
    return select(Loan).where(visible(principal))


# --- loans -------------------------------------------------------------------------------------------------

async def one(session: AsyncSession, principal: Principal, loan_no: str) -> Loan | None:
    return (await session.execute(readable(principal).where(Loan.loan_no == loan_no))).scalars().first()


async def page_of(session: AsyncSession, principal: Principal, *, within: str | None, status: str | None,
                  after: str | None, limit: int) -> list[Loan]:
    """The caller's loans in ``within``'s subtree (all of them without), in ``loan_no`` order."""
    q = readable(principal)
    if within:
        q = q.where(Loan.region_code.startswith(regions.prefix(within)))
    if status is not None:
        q = q.where(Loan.status == status)
    if after is not None:
        q = q.where(Loan.loan_no > after)
    return list((await session.execute(q.order_by(Loan.loan_no).limit(limit))).scalars().all())


# A bank's event is the hot path (every post of every partner bank): its statements run on the session's asyncpg
# connection, the loan's row, its events and the write each one statement, without SQLAlchemy's statement building.
LOAN_COLUMNS = ", ".join(c.name if c.name != "steps" else "steps::text AS steps" for c in loan_t.columns)


@dataclass(slots=True)
class StoredEvent:
    """A loan event as the hot path reads it (an ORM LoanEvent costs more to build than its query)."""
    id: int | None
    bank_code: str
    event_id: str
    loan_no: str
    kind: str
    occurred_at: datetime
    amount: int | None
    rate: Decimal | None
    term_months: int | None
    credit_line: int | None
    rating: str | None
    id_hmac: bytes
    body_hash: str
    received_at: datetime | None


EVENT_COLUMNS = ", ".join(f.name for f in fields(StoredEvent))
LOCK_LOAN = f"SELECT {LOAN_COLUMNS} FROM loan WHERE loan_no = $1 FOR UPDATE"
LOAN_EVENTS = f"SELECT {EVENT_COLUMNS} FROM loan_event WHERE loan_no = $1"


def _loan(row: Mapping[str, Any]) -> Loan:
    return Loan(**{**row, "steps": orjson.loads(row["steps"])})


async def lock_for_bank(session: AsyncSession, principal: Principal, loan_no: str) -> tuple[Loan, bool] | None:
    """The loan locked for this transaction, and whether it is the calling bank's (loan numbers are one namespace:
    another bank's loan is locked too, so that the caller can answer it as not found)."""
    row = await (await driver(session)).fetchrow(LOCK_LOAN, loan_no)
    if row is None:
        return None
    loan = _loan(dict(row))
    return loan, loan.bank_code == (principal.bank or "")


async def events_of_loan(session: AsyncSession, loan_no: str) -> list[StoredEvent]:
    rows = await (await driver(session)).fetch(LOAN_EVENTS, loan_no)
    return [StoredEvent(*r) for r in rows]


STORE_EVENT = """
WITH e AS (INSERT INTO loan_event (bank_code, event_id, loan_no, kind, occurred_at, amount, rate, term_months,
                                   credit_line, rating, id_hmac, body_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT ON CONSTRAINT once_per_bank DO NOTHING RETURNING id, received_at),
     l AS (UPDATE loan SET status = $13, rating = $14, credit_line = $15, principal = $16, outstanding = $17,
                           rate = $18, term_months = $19, issued_on = $20, overdue_since = $21, compensated = $22,
                           steps = $23::text::jsonb, updated_at = $24
           WHERE loan_no = $3 AND EXISTS (SELECT FROM e)),
     r AS (UPDATE loan_event_rejection SET accepted_at = now()
           WHERE bank_code = $1 AND event_id = $2 AND accepted_at IS NULL AND EXISTS (SELECT FROM e))
SELECT id, received_at FROM e"""


async def store_event(session: AsyncSession, event: Mapping[str, Any], loan: Loan) -> tuple[int, Any] | None:
    """Store the event with the loan as recomputed (and its refusal, if any, marked accepted) in one statement:
    (id, received_at), or None when its bank used the ``event_id`` already (then nothing changed)."""
    e = event
    row = await (await driver(session)).fetchrow(
        STORE_EVENT, e["bank_code"], e["event_id"], e["loan_no"], e["kind"], e["occurred_at"], e["amount"], e["rate"],
        e["term_months"], e["credit_line"], e["rating"], e["id_hmac"], e["body_hash"],
        loan.status, loan.rating, loan.credit_line, loan.principal, loan.outstanding, loan.rate, loan.term_months,
        loan.issued_on, loan.overdue_since, loan.compensated, orjson.dumps(loan.steps).decode(), loan.updated_at)
    return None if row is None else (row["id"], row["received_at"])


async def open_once(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """A loan's row, unless it exists already (a concurrent first event of the same loan)."""
    await session.execute(insert(loan_t).values(**values).on_conflict_do_nothing(index_elements=["loan_no"]))


async def events(session: AsyncSession, loan_nos: Sequence[str]) -> dict[str, list[LoanEvent]]:
    """Each loan's events (in no order: state.ordered orders them), in one query."""
    out: dict[str, list[LoanEvent]] = {n: [] for n in loan_nos}
    for e in (await session.execute(select(LoanEvent).where(LoanEvent.loan_no.in_(list(loan_nos))))).scalars():
        out[e.loan_no].append(e)
    return out


async def bank_event(session: AsyncSession, principal: Principal, event_id: str) -> LoanEvent:
    """The calling bank's stored event with this ``event_id``."""
    return (await session.execute(select(LoanEvent).where(scoping.own_bank(LoanEvent.bank_code, principal),
                                                          LoanEvent.event_id == event_id))).scalars().one()


async def stats(session: AsyncSession, principal: Principal, *, within: str) -> Mapping[str, Any]:
    """The caller's loans in ``within``'s subtree, summed (fen), and counted per status."""
    c = loan_t.c
    where = (visible(principal), c.region_code.startswith(regions.prefix(within)))
    per_status = select(c.status, func.count().label("n")).where(*where).group_by(c.status).subquery()
    by_status = select(func.coalesce(func.jsonb_object_agg(per_status.c.status, per_status.c.n), text("'{}'")))
    return (await session.execute(select(
        func.count(distinct(c.household_id)).filter(c.credit_line > 0).label("households_rated"),
        func.coalesce(func.sum(c.credit_line), 0).label("credit_granted"),
        func.count().filter(c.principal > 0).label("loans_issued"),
        func.coalesce(func.sum(c.principal), 0).label("amount_issued"),
        func.coalesce(func.sum(c.outstanding), 0).label("outstanding"),
        func.coalesce(func.sum(c.outstanding).filter(c.status == "overdue"), 0).label("overdue_outstanding"),
        func.coalesce(func.sum(c.compensated), 0).label("compensated"),
        by_status.scalar_subquery().label("by_status")).where(*where))).mappings().one()


# --- refused events ----------------------------------------------------------------------------------------

async def keep_rejection(session: AsyncSession, values: Mapping[str, Any]) -> Any:
    """The refusal's row (id, attempts): new, or the bank's earlier one of this ``event_id`` counted again."""
    stmt = insert(rejection_t).values(**values)
    return (await session.execute(stmt.on_conflict_do_update(
        constraint="rejection_once_per_bank",
        set_={k: stmt.excluded[k] for k in ("loan_no", "kind", "status", "problem_type", "reason", "errors", "body")}
        | {"attempts": rejection_t.c.attempts + 1, "last_at": func.now(), "accepted_at": None})
        .returning(rejection_t.c.id, rejection_t.c.attempts))).one()


async def rejections_page(session: AsyncSession, principal: Principal, *, before: int | None, limit: int
                          ) -> list[LoanEventRejection]:
    """The calling bank's refusals, newest first."""
    q = select(LoanEventRejection).where(scoping.own_bank(LoanEventRejection.bank_code, principal))
    if before is not None:
        q = q.where(LoanEventRejection.id < before)
    return list((await session.execute(q.order_by(LoanEventRejection.id.desc()).limit(limit))).scalars().all())


# --- reminders ---------------------------------------------------------------------------------------------

OPEN = "('issued', 'repaying', 'extended')"

# the loans to remind today, each remembered in loan_reminder in the same statement (only the new ones return)
DUE = f"""
WITH wanted AS (
  SELECT loan_no, 'overdue' AS kind, overdue_since AS "on" FROM loan
  WHERE status = 'overdue' AND overdue_since IS NOT NULL AND outstanding > 0
  UNION ALL
  SELECT loan_no, 'due_soon', CAST(:target AS date) FROM loan l
  CROSS JOIN LATERAL (SELECT ((extract(year FROM CAST(:target AS date)) - extract(year FROM l.issued_on)) * 12
                              + extract(month FROM CAST(:target AS date)) - extract(month FROM l.issued_on))::int
                             AS k) m
  WHERE l.status IN {OPEN} AND l.outstanding > 0 AND l.issued_on IS NOT NULL AND l.term_months IS NOT NULL
    AND CAST(:target AS date) <= (l.issued_on + make_interval(months => l.term_months))::date
    AND (CAST(:target AS date) = (l.issued_on + make_interval(months => l.term_months))::date
         OR (m.k > 0 AND m.k % 3 = 0 AND (l.issued_on + make_interval(months => m.k))::date = CAST(:target AS date))))
INSERT INTO loan_reminder (loan_no, kind, "on") SELECT loan_no, kind, "on" FROM wanted
ON CONFLICT ON CONSTRAINT loan_reminder_once DO NOTHING
RETURNING loan_no, kind, "on"
"""


async def remember_due(session: AsyncSession, *, due_soon_on: date) -> Sequence[Any]:
    """(loan_no, kind, on) of each reminder not written before: overdue loans, and loans due on ``due_soon_on``."""
    return (await session.execute(text(DUE), {"target": due_soon_on})).all()


async def reminded(session: AsyncSession, loan_nos: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {r["loan_no"]: dict(r) for r in (await session.execute(text(
        "SELECT loan_no, household_id, region_code, bank_code, outstanding, overdue_since FROM loan"
        " WHERE loan_no = ANY(:n)"), {"n": list(loan_nos)})).mappings().all()}


async def add_outbox(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Outbox rows in the caller's transaction, and one wake-up for the relay."""
    await session.execute(outbox.insert(), list(rows))
    await session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})


# --- 贴息 ---------------------------------------------------------------------------------------------------

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


async def one_subsidy_at_a_time(session: AsyncSession) -> None:
    """Until this transaction ends, whatever the region: the next computation sees the days this one paid."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('jingzhun.interest_subsidy'))"))


async def borrowers(session: AsyncSession, *, within: str, last: date) -> list[int]:
    """The households of the loans in ``within``'s subtree issued by ``last``."""
    return list((await session.execute(text(f"SELECT DISTINCT household_id FROM loan WHERE {CANDIDATES}"),
                                       {"p": regions.prefix(within) + "%", "last": last})).scalars().all())


async def without_steps(session: AsyncSession, *, within: str, last: date) -> list[Loan]:
    """Loans written before ``loan.steps`` existed (issued by ``last``, in ``within``'s subtree)."""
    return list((await session.execute(select(Loan).where(
        Loan.region_code.startswith(regions.prefix(within)), Loan.issued_on.is_not(None), Loan.issued_on <= last,
        text("loan.steps = '[]'::jsonb")))).scalars().all())


async def subsidy_lines(session: AsyncSession, *, within: str, first: date, last: date, subsidy_id: int,
                        eligible: tuple[list[int], list[str], list[str | None]]) -> Sequence[Any]:
    """(loan_no, days, fen) per loan paid something, its paid days kept under ``subsidy_id``; ``eligible``: the
    households' eligible spans as parallel lists (household id, first day, day after)."""
    hid, lo, hi = eligible
    return (await session.execute(text(COMPUTE), {"p": regions.prefix(within) + "%", "first": first, "last": last,
                                                  "hid": hid, "lo": lo, "hi": hi, "sid": subsidy_id})).all()
