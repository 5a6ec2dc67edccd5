"""Every query on batches and their lines. Batches hold up to 100,000 lines: lines go in by COPY, change by one
``UPDATE … FROM unnest(…)``, are counted by one aggregate and read a page at a time; never a query per line.

A caller reads batches through :func:`readable` (its subtree and the regions above it), changes them through
:func:`writable` (its subtree), a bank only the batches sent to it: a row outside is simply not found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, false, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.disbursements.models import Disbursement
from services.funds.glossary import DisbursementStatus as S
from shared import scoping
from shared.auth import Principal
from shared.db import driver
from shared.outbox import CHANNEL

LINE_COLUMNS = ("disbursement_id", "household_id", "amount", "memo", "village_code", "household_no", "head_name",
                "head_id_masked", "head_id_enc", "phone_enc", "account_bank_code", "account_enc", "account_masked")


# --- batches ----------------------------------------------------------------------------------------------

def readable(principal: Principal) -> Select:
    """The batches the caller may read: its subtree and the regions above it."""
    return select(Disbursement).where(scoping.subtree_or_above(Disbursement.region_code, principal))


def writable(principal: Principal) -> Select:
    """The batches the caller may change: its subtree only."""
    return select(Disbursement).where(scoping.subtree(Disbursement.region_code, principal))


def sent_to(principal: Principal) -> Select:
    """The batches sent to the caller's bank (none for a caller that is no bank)."""
    if principal.bank is None:
        return select(Disbursement).where(false())
    return select(Disbursement).where(Disbursement.bank_code == principal.bank)


async def one(session: AsyncSession, statement: Select, disbursement_id: int, *, lock: bool = False
              ) -> Disbursement | None:
    q = statement.where(Disbursement.id == disbursement_id)
    if lock:
        q = q.with_for_update()
    return (await session.execute(q)).scalars().first()


async def locked(session: AsyncSession, disbursement_id: int) -> Disbursement | None:
    """The batch, locked, for the funds service's own handlers (no caller to scope by)."""
    return (await session.execute(select(Disbursement).where(Disbursement.id == disbursement_id).with_for_update()
                                  )).scalars().first()


async def page_of(session: AsyncSession, statement: Select, *, status: str | None, allocation_id: int | None = None,
                  after: int | None, limit: int) -> list[Disbursement]:
    """``limit`` batches of ``statement`` after id ``after``, in id order."""
    q = statement
    if status is not None:
        q = q.where(Disbursement.status == status)
    if allocation_id is not None:
        q = q.where(Disbursement.allocation_id == allocation_id)
    if after is not None:
        q = q.where(Disbursement.id > after)
    return list((await session.execute(q.order_by(Disbursement.id).limit(limit))).scalars().all())


# --- lines -------------------------------------------------------------------------------------------------

async def _rows(session: AsyncSession, sql: str, **params: Any) -> list[Mapping[str, Any]]:
    return [r._mapping for r in (await session.execute(text(sql), params)).all()]


async def add_lines(session: AsyncSession, records: Sequence[tuple]) -> None:
    """Lines in the order given (their ids follow it), values in :data:`LINE_COLUMNS` order."""
    await (await driver(session)).copy_records_to_table("disbursement_line", records=records, columns=LINE_COLUMNS)


async def add_warnings(session: AsyncSession, *, disbursement_id: int, purpose: str, year: int) -> int:
    """A warning per line whose household was paid, or is committed in another approved batch, for the same
    purpose in the same allocation year; returns how many."""
    result = await session.execute(text(f"""
        INSERT INTO disbursement_warning (disbursement_id, line_id, household_id, earlier_disbursement_id,
                                          earlier_line_id, earlier_status)
        SELECT l.disbursement_id, l.id, l.household_id, e.disbursement_id, e.id,
               CASE WHEN e.status = 'paid' THEN 'paid' ELSE 'committed' END
        FROM disbursement_line l
        JOIN disbursement_line e ON e.household_id = l.household_id AND e.disbursement_id <> l.disbursement_id
        JOIN disbursement ed ON ed.id = e.disbursement_id
        JOIN allocation ea ON ea.id = ed.allocation_id
        WHERE l.disbursement_id = :d AND ed.purpose = :purpose AND ea.year = :year
          AND (e.status = 'paid' OR (e.status = 'listed' AND ed.status IN ('{S.approved}', '{S.sent}')))
        ORDER BY l.id, e.id"""), {"d": disbursement_id, "purpose": purpose, "year": year})
    return result.rowcount


async def warnings(session: AsyncSession, disbursement_id: int, *, after: int, limit: int
                   ) -> list[Mapping[str, Any]]:
    return await _rows(session, """
        SELECT id, line_id, household_id, earlier_disbursement_id, earlier_line_id, earlier_status
        FROM disbursement_warning WHERE disbursement_id = :d AND id > :after ORDER BY id LIMIT :n""",
                       d=disbursement_id, after=after, n=limit)


async def warning_counts(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    rows = await _rows(session, "SELECT disbursement_id, count(*) AS n FROM disbursement_warning "
                                "WHERE disbursement_id = ANY(:ids) GROUP BY disbursement_id", ids=list(ids))
    return {r["disbursement_id"]: r["n"] for r in rows}


async def first_warnings(session: AsyncSession, ids: Sequence[int], *, each: int) -> list[Mapping[str, Any]]:
    return await _rows(session, """
        SELECT w.* FROM unnest(CAST(:ids AS bigint[])) AS b(id) CROSS JOIN LATERAL (
            SELECT id, disbursement_id, line_id, household_id, earlier_disbursement_id, earlier_line_id,
                   earlier_status
            FROM disbursement_warning WHERE disbursement_id = b.id ORDER BY id LIMIT :each) w""",
                       ids=list(ids), each=each)


async def counts(session: AsyncSession, ids: Sequence[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """Per batch, per line status: (lines, fen)."""
    out: dict[int, dict[str, tuple[int, int]]] = {i: {} for i in ids}
    for r in await _rows(session, """
            SELECT disbursement_id, status, count(*) AS n, sum(amount) AS fen FROM disbursement_line
            WHERE disbursement_id = ANY(:ids) GROUP BY disbursement_id, status""", ids=list(ids)):
        out[r["disbursement_id"]][r["status"]] = (r["n"], int(r["fen"]))
    return out


async def lines_page(session: AsyncSession, disbursement_id: int, *, after: int, limit: int,
                     status: str | None = None, payable_only: bool = False) -> list[Mapping[str, Any]]:
    """``limit`` lines after line id ``after``, in order."""
    where, params = ["disbursement_id = :d", "id > :after"], {"d": disbursement_id, "after": after, "n": limit}
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if payable_only:
        where.append("status <> 'struck'")
    return await _rows(session, f"""
        SELECT * FROM disbursement_line WHERE {' AND '.join(where)} ORDER BY id LIMIT :n""", **params)


async def for_notice(session: AsyncSession, disbursement_id: int) -> list[Mapping[str, Any]]:
    """What the 公示 lists of each line still listed, in order."""
    return await _rows(session, """
        SELECT household_id, head_name, head_id_masked, amount, household_no, memo FROM disbursement_line
        WHERE disbursement_id = :d AND status = 'listed' ORDER BY id""", d=disbursement_id)


async def strike(session: AsyncSession, disbursement_id: int, household_ids: Sequence[int]) -> int:
    result = await session.execute(text(
        "UPDATE disbursement_line SET status = 'struck' WHERE disbursement_id = :d "
        "AND household_id = ANY(CAST(:ids AS bigint[])) AND status = 'listed'"),
        {"d": disbursement_id, "ids": list(household_ids)})
    return result.rowcount


async def payable(session: AsyncSession, disbursement_id: int) -> int:
    return int((await session.execute(text(
        "SELECT COALESCE(sum(amount), 0) FROM disbursement_line WHERE disbursement_id = :d AND status <> 'struck'"),
        {"d": disbursement_id})).scalar_one())


async def result_problems(session: AsyncSession, disbursement_id: int, *, household_ids: list[int],
                          statuses: list[str]) -> list[Mapping[str, Any]]:
    """The posted results that cannot apply: ``n`` (their position), and either no payable line (``status`` null
    or ``struck``) or a final status the post contradicts."""
    return await _rows(session, """
        SELECT t.n, t.household_id, l.status
        FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[])) WITH ORDINALITY AS t(household_id, posted, n)
        LEFT JOIN disbursement_line l ON l.disbursement_id = :d AND l.household_id = t.household_id
        WHERE l.id IS NULL OR l.status = 'struck' OR (l.status IN ('paid', 'failed') AND l.status <> t.posted)
        ORDER BY t.n""", d=disbursement_id, ids=household_ids, statuses=statuses)


async def settle(session: AsyncSession, disbursement_id: int, *, household_ids: list[int], statuses: list[str],
                 bank_refs: list[str | None], reasons: list[str | None]) -> list[Mapping[str, Any]]:
    """Give the posted status to each line still listed; returns the lines that changed."""
    return await _rows(session, """
        UPDATE disbursement_line l SET status = t.status, bank_ref = t.bank_ref, reason = t.reason, final_at = now()
        FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:refs AS text[]),
                    CAST(:reasons AS text[])) AS t(household_id, status, bank_ref, reason)
        WHERE l.disbursement_id = :d AND l.household_id = t.household_id AND l.status = 'listed'
        RETURNING l.id, l.household_id, l.household_no, l.head_name, l.phone_enc, l.amount, l.status,
                  l.account_masked, l.bank_ref, l.village_code, l.final_at""",
                       d=disbursement_id, ids=household_ids, statuses=statuses, refs=bank_refs, reasons=reasons)


async def any_listed(session: AsyncSession, disbursement_id: int) -> bool:
    return bool((await session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM disbursement_line WHERE disbursement_id = :d AND status = 'listed')"),
        {"d": disbursement_id})).scalar_one())


async def add_events(session: AsyncSession, *, topic: str, to: Sequence[str], payloads: Sequence[str]) -> None:
    """One outbox row per payload (JSON text), each with its own event id, in the caller's transaction; one
    wake-up for the relay."""
    if not payloads:
        return
    await session.execute(text(
        "INSERT INTO outbox (event_id, topic, destinations, payload) "
        "SELECT gen_random_uuid(), :topic, CAST(:to AS text[]), CAST(p AS jsonb) FROM unnest(CAST(:p AS text[])) p"),
        {"topic": topic, "to": list(to), "p": list(payloads)})
    await session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
