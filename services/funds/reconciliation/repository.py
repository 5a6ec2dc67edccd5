"""Queries of 对账: statements stored with COPY, matching and breaks computed in SQL, the lines to refund found
set-based (their entries are posted by the ledger, services/funds/ledger).

Reads the batch tables (``disbursement``, ``disbursement_line``) by their stable columns only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.disbursements.models import Disbursement
from shared import scoping
from shared.auth import Principal
from shared.db import driver

ENTRY_COLUMNS = ("statement_pk", "seq", "disbursement_id", "line_id", "amount", "booked_on", "bank_ref", "reversal")
SAMPLE = 100


async def claim_statement(session: AsyncSession, *, bank_code: str, statement_id: str, booked_on: date,
                          entry_count: int, total: int, reversed_total: int, content_hash: str,
                          actor: str) -> tuple[int, Any] | None:
    """The new statement's id and time of receipt, or None when this bank sent this statement id before (a
    concurrent second post waits here for the first to commit)."""
    row = (await session.execute(text(
        "INSERT INTO bank_statement (bank_code, statement_id, booked_on, entry_count, total, reversed_total, "
        "content_hash, answer, received_by) VALUES (:b, :s, :on, :n, :t, :rt, :h, '{}', :by) "
        "ON CONFLICT ON CONSTRAINT statement_once_per_bank DO NOTHING RETURNING id, received_at"),
        {"b": bank_code, "s": statement_id, "on": booked_on, "n": entry_count, "t": total, "rt": reversed_total, "h": content_hash,
         "by": actor})).first()
    return None if row is None else (row.id, row.received_at)


async def stored_statement(session: AsyncSession, *, bank_code: str, statement_id: str) -> Mapping[str, Any]:
    return (await session.execute(text(
        "SELECT id, content_hash, answer FROM bank_statement WHERE bank_code = :b AND statement_id = :s"),
        {"b": bank_code, "s": statement_id})).mappings().one()


async def save_answer(session: AsyncSession, *, statement_pk: int, answer: dict[str, Any]) -> None:
    await session.execute(text("UPDATE bank_statement SET answer = CAST(:a AS jsonb) WHERE id = :id"),
                          {"a": _json(answer), "id": statement_pk})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def copy_entries(session: AsyncSession, records: Sequence[tuple]) -> None:
    if records:
        await (await driver(session)).copy_records_to_table("bank_statement_entry", records=records,
                                                          columns=ENTRY_COLUMNS)


async def matching(session: AsyncSession, *, statement_pk: int, bank_code: str) -> Mapping[str, Any]:
    """How many entries name a batch sent to this bank, the first unmatched ones ((batch id, line id) pairs), and
    the batches named."""
    return (await session.execute(text("""
        WITH e AS (SELECT e.seq, e.disbursement_id, e.line_id, d.id IS NOT NULL AS matched
                   FROM bank_statement_entry e
                   LEFT JOIN disbursement d ON d.id = e.disbursement_id AND d.bank_code = :b
                   WHERE e.statement_pk = :s)
        SELECT count(*) FILTER (WHERE matched) AS matched, count(*) FILTER (WHERE NOT matched) AS unmatched,
               coalesce((SELECT array_agg(ARRAY[disbursement_id, line_id] ORDER BY seq)
                         FROM (SELECT * FROM e WHERE NOT matched ORDER BY seq LIMIT :sample) u), '{}') AS sample,
               coalesce((SELECT array_agg(DISTINCT disbursement_id ORDER BY disbursement_id) FROM e WHERE matched),
                        '{}') AS disbursement_ids
        FROM e"""), {"s": statement_pk, "b": bank_code, "sample": SAMPLE})).mappings().one()


# Paid lines of this bank's batches reversed by the statement, for their own amount, not refunded before (the
# refund entry's ref names the line; the ledger's unique index on it keeps a line to one refund), with the two
# accounts a refund moves. Their lines are locked first, in id order: two statements reversing one line queue.
_LOCK_REVERSED = """
SELECT l.id FROM disbursement_line l JOIN disbursement d ON d.id = l.disbursement_id AND d.bank_code = :b
WHERE l.id IN (SELECT e.line_id FROM bank_statement_entry e WHERE e.statement_pk = :s AND e.reversal)
ORDER BY l.id FOR UPDATE OF l"""

_REFUNDABLE = """
SELECT DISTINCT ON (l.id) l.id AS line_id, l.disbursement_id, d.allocation_id, l.amount, e.seq,
       'disbursement:' || l.disbursement_id || ':line:' || l.id AS ref, sp.id AS spent, av.id AS available
FROM bank_statement_entry e
JOIN disbursement d ON d.id = e.disbursement_id AND d.bank_code = :b
JOIN disbursement_line l ON l.id = e.line_id AND l.disbursement_id = e.disbursement_id
JOIN ledger_account sp ON sp.allocation_id = d.allocation_id AND sp.kind = 'spent'
JOIN ledger_account av ON av.allocation_id = d.allocation_id AND av.kind = 'available'
WHERE e.statement_pk = :s AND e.reversal AND l.status = 'paid' AND e.amount = l.amount
  AND NOT EXISTS (SELECT 1 FROM ledger_entry x WHERE x.kind = 'refund'
                  AND x.ref = 'disbursement:' || l.disbursement_id || ':line:' || l.id)
ORDER BY l.id, e.seq"""


async def refundable(session: AsyncSession, *, statement_pk: int, bank_code: str) -> list[Mapping[str, Any]]:
    """The lines this statement reverses that are still to be refunded, in line order, each with its ``ref`` and
    its allocation's ``spent`` and ``available`` account ids."""
    await session.execute(text(_LOCK_REVERSED), {"s": statement_pk, "b": bank_code})
    return list((await session.execute(text(_REFUNDABLE), {"s": statement_pk, "b": bank_code})).mappings().all())


async def add_reversals(session: AsyncSession, *, statement_pk: int, refunds: Sequence[Mapping[str, Any]],
                        entry_ids: Sequence[int]) -> None:
    """One ``payment_reversal`` per refunded line, naming its ledger entry."""
    await session.execute(text("""
        INSERT INTO payment_reversal (line_id, disbursement_id, allocation_id, amount, entry_id, statement_pk, seq)
        SELECT t.line_id, t.disbursement_id, t.allocation_id, t.amount, t.entry_id, :s, t.seq
        FROM unnest(CAST(:lines AS bigint[]), CAST(:batches AS bigint[]), CAST(:allocations AS bigint[]),
                    CAST(:amounts AS bigint[]), CAST(:entries AS bigint[]), CAST(:seqs AS int[]))
             AS t(line_id, disbursement_id, allocation_id, amount, entry_id, seq)"""),
        {"s": statement_pk, "lines": [r["line_id"] for r in refunds],
         "batches": [r["disbursement_id"] for r in refunds], "allocations": [r["allocation_id"] for r in refunds],
         "amounts": [r["amount"] for r in refunds], "entries": list(entry_ids), "seqs": [r["seq"] for r in refunds]})


async def refunds_of(session: AsyncSession, *, statement_pk: int) -> list[Mapping[str, Any]]:
    """The statement's refunds with what their events and audit rows say."""
    return list((await session.execute(text("""
        SELECT r.line_id, r.disbursement_id, r.allocation_id, r.amount, r.entry_id, e.booked_on, e.bank_ref,
               l.household_id, l.household_no, l.village_code, d.purpose, d.title
        FROM payment_reversal r
        JOIN bank_statement_entry e ON e.statement_pk = r.statement_pk AND e.seq = r.seq
        JOIN disbursement_line l ON l.id = r.line_id
        JOIN disbursement d ON d.id = r.disbursement_id
        WHERE r.statement_pk = :s ORDER BY r.line_id"""), {"s": statement_pk})).mappings().all())


async def batch(session: AsyncSession, disbursement_id: int, *, principal: Principal) -> Mapping[str, Any] | None:
    """The batch when it lies in the caller's subtree (its 对账 is read by those who may change it)."""
    d = Disbursement.__table__.c
    return (await session.execute(select(d.id, d.region_code, d.bank_code, d.status).where(
        d.id == disbursement_id, scoping.subtree(d.region_code, principal)))).mappings().first()


# One row per line of the batch or line id its bank's statements named, with what was paid, booked and re-opened;
# then one row per break (a line may have several).
_BREAKS = """
WITH booked AS (
  SELECT e.line_id,
         count(*) FILTER (WHERE NOT e.reversal) AS n_booked,
         coalesce(sum(e.amount) FILTER (WHERE NOT e.reversal), 0) AS booked,
         count(*) FILTER (WHERE e.reversal) AS n_reversals,
         min(e.amount) FILTER (WHERE e.reversal) AS reversal_min,
         max(e.amount) FILTER (WHERE e.reversal) AS reversal_max,
         min(e.bank_ref) AS booking_ref
  FROM bank_statement_entry e JOIN bank_statement s ON s.id = e.statement_pk
  WHERE e.disbursement_id = :d AND s.bank_code = :b
  GROUP BY e.line_id),
j AS (
  SELECT coalesce(l.id, b.line_id) AS line_id, l.household_id, l.status, l.amount, l.bank_ref AS result_ref,
         coalesce(b.n_booked, 0) AS n_booked, coalesce(b.booked, 0) AS booked,
         coalesce(b.n_reversals, 0) AS n_reversals, b.reversal_min, b.reversal_max, b.booking_ref,
         r.entry_id AS refund_entry_id
  FROM (SELECT id, household_id, status, amount, bank_ref FROM disbursement_line WHERE disbursement_id = :d) l
  FULL JOIN booked b ON b.line_id = l.id
  LEFT JOIN payment_reversal r ON r.line_id = l.id),
flags AS (
  SELECT j.*,
         j.status = 'paid' AND ((j.n_booked > 0 AND j.booked <> j.amount) OR (j.refund_entry_id IS NULL AND
           (j.reversal_min <> j.amount OR j.reversal_max <> j.amount))) AS amount_mismatch,
         j.status IS DISTINCT FROM 'paid' AND j.n_booked + j.n_reversals > 0 AS booked_not_paid,
         j.status = 'paid' AND j.n_booked = 0 AS paid_not_booked,
         j.status = 'paid' AND (j.n_reversals > 0 OR j.refund_entry_id IS NOT NULL) AS reversed
  FROM j),
breaks AS (
  SELECT f.*, k.kind
  FROM (SELECT * FROM flags WHERE amount_mismatch OR booked_not_paid OR paid_not_booked OR reversed) f
  CROSS JOIN LATERAL (VALUES ('amount_mismatch', f.amount_mismatch), ('booked_not_paid', f.booked_not_paid),
                             ('paid_not_booked', f.paid_not_booked), ('reversed', f.reversed)) AS k(kind, hit)
  WHERE k.hit)
"""


async def reconciliation(session: AsyncSession, *, disbursement_id: int, bank_code: str | None,
                         after: tuple[int, str], limit: int) -> Mapping[str, Any]:
    """In one pass over the batch: whether any statement of its bank named it, its breaks per kind, and a page of
    them in (line id, kind) order after the cursor's."""
    return (await session.execute(text(_BREAKS + """
        SELECT EXISTS (SELECT 1 FROM bank_statement_entry e JOIN bank_statement s ON s.id = e.statement_pk
                       WHERE e.disbursement_id = :d AND s.bank_code = :b) AS named,
               (SELECT coalesce(jsonb_object_agg(kind, n), '{}') FROM (SELECT kind, count(*) AS n FROM breaks
                                                                     GROUP BY kind) c) AS counts,
               (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.line_id, p.kind), '[]')
                FROM (SELECT * FROM breaks WHERE (line_id, kind) > (:after_line, :after_kind)
                      ORDER BY line_id, kind LIMIT :n) p) AS page"""),
        {"d": disbursement_id, "b": bank_code, "after_line": after[0], "after_kind": after[1], "n": limit}
    )).mappings().one()
