"""台账 queries over the ledger tables: the allocations of a region and year with their balances, then every
movement of the year in order, streamed a few thousand rows at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

FETCH_ROWS = 2_000

# The allocations of the subtree that the year concerns: money moved in the year, or unspent money carried into
# it (an allocation used up in an earlier year is closed and not carried over).
# Balances at the start (o_*) and at the end (c_*) of the year are sums of the lines before those instants.
ALLOCATIONS = """
SELECT a.id, a.region_code, a.purpose, a.year, a.doc_no, a.granted, a.adjustment_id, a.created_at,
       s.id AS source_id, s.name AS source_name, s.level AS source_level, s.doc_no AS source_doc_no,
       coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'available' AND e.at < :start), 0) AS o_available,
       coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'committed' AND e.at < :start), 0) AS o_committed,
       coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'spent' AND e.at < :start), 0) AS o_spent,
       coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'available' AND e.at < :end), 0) AS c_available,
       coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'committed' AND e.at < :end), 0) AS c_committed,
       coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'spent' AND e.at < :end), 0) AS c_spent,
       count(DISTINCT e.id) FILTER (WHERE e.at >= :start AND e.at < :end) AS moves
FROM allocation a
JOIN fund_source s ON s.id = a.source_id
JOIN ledger_account acc ON acc.allocation_id = a.id
LEFT JOIN ledger_line l ON l.account_id = acc.id
LEFT JOIN ledger_entry e ON e.id = l.entry_id
WHERE a.region_code LIKE :prefix
GROUP BY a.id, s.id
HAVING count(DISTINCT e.id) FILTER (WHERE e.at >= :start AND e.at < :end) > 0
    OR coalesce(sum(l.amount) FILTER (WHERE acc.kind IN ('available', 'committed') AND e.at < :start), 0) <> 0
ORDER BY a.id
"""


def _id_of(prefix: str, column: str = "x.business_ref") -> str:
    """The id in a ref such as ``project:12`` (NULL for any other ref, never a cast error)."""
    return f"CAST(substring({column} from '^{prefix}:([0-9]{{1,18}})$') AS bigint)"


# One row per ledger entry touching an allocation (sub = 0), its change to each of the allocation's accounts and
# whom it concerns; after a household batch's spending, one row per household line it paid (sub = 1). A paid line
# belongs to the batch's latest spending entry at or before the moment the bank's result was applied.
MOVEMENTS = f"""
WITH x AS (
  SELECT acc.allocation_id, e.id AS entry_id, e.at, e.kind, e.ref, e.memo, e.reverses_id,
         r.kind AS reversed_kind, coalesce(r.ref, e.ref) AS business_ref,
         coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'available'), 0) AS d_available,
         coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'committed'), 0) AS d_committed,
         coalesce(sum(l.amount) FILTER (WHERE acc.kind = 'spent'), 0) AS d_spent
  FROM ledger_line l
  JOIN ledger_account acc ON acc.id = l.account_id
  JOIN ledger_entry e ON e.id = l.entry_id
  LEFT JOIN ledger_entry r ON r.id = e.reverses_id
  WHERE acc.allocation_id = ANY(CAST(:ids AS bigint[])) AND e.at >= :start AND e.at < :end
  GROUP BY acc.allocation_id, e.id, r.id
), paid AS (
  SELECT d.allocation_id, m.entry_id, m.at, dl.id AS line_id, dl.household_no, dl.head_name, dl.village_code,
         dl.amount, dl.bank_ref, dl.final_at
  FROM disbursement d
  JOIN disbursement_line dl ON dl.disbursement_id = d.id AND dl.status = 'paid'
  CROSS JOIN LATERAL (SELECT e.id AS entry_id, e.at FROM ledger_entry e
                      WHERE e.ref = 'disbursement:' || d.id AND e.kind = 'spend' AND e.at <= dl.final_at
                      ORDER BY e.at DESC, e.id DESC LIMIT 1) m
  WHERE d.allocation_id = ANY(CAST(:ids AS bigint[])) AND m.at >= :start AND m.at < :end
)
SELECT 0 AS sub, x.allocation_id, x.entry_id, x.at, x.kind, x.ref, x.memo, x.reverses_id, x.reversed_kind,
       x.business_ref, x.d_available, x.d_committed, x.d_spent,
       adj.allocation_id AS adj_from, adj.new_allocation_id AS adj_to, adj.to_purpose AS adj_to_purpose,
       adj_src.purpose AS adj_from_purpose, p.name AS project_name, pay.payee AS project_payee,
       d.title AS batch_title, d.id AS batch_id, sub.period_start, sub.period_end,
       NULL::bigint AS line_id, NULL::text AS household_no, NULL::text AS head_name, NULL::text AS village_code,
       NULL::bigint AS line_amount, NULL::text AS bank_ref, NULL::timestamptz AS final_at
FROM x
LEFT JOIN adjustment adj ON adj.id = {_id_of('adjustment')}
LEFT JOIN allocation adj_src ON adj_src.id = adj.allocation_id
LEFT JOIN project p ON p.id = {_id_of('project')}
LEFT JOIN LATERAL (SELECT pp.payee FROM project_payment pp
                   WHERE pp.project_id = p.id AND coalesce(x.reverses_id, x.entry_id) = ANY(pp.entry_ids)
                   LIMIT 1) pay ON true
LEFT JOIN disbursement d ON d.id = {_id_of('disbursement')}
LEFT JOIN interest_subsidy sub ON sub.id = {_id_of('interest_subsidy')}
UNION ALL
SELECT 1, allocation_id, entry_id, at, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, line_id, household_no, head_name, village_code, amount, bank_ref,
       final_at
FROM paid
ORDER BY allocation_id, at, entry_id, sub, line_id
"""


async def allocations(session: AsyncSession, *, prefix: str, start: datetime, end: datetime
                      ) -> Sequence[Mapping[str, Any]]:
    return (await session.execute(text(ALLOCATIONS), {"prefix": prefix + "%", "start": start, "end": end})
            ).mappings().all()


async def movements(session: AsyncSession, *, allocation_ids: Sequence[int], start: datetime, end: datetime
                    ) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
    """The year's movements of the allocations in order, ``FETCH_ROWS`` at a time (a server-side cursor)."""
    result = await session.stream(text(MOVEMENTS), {"ids": list(allocation_ids), "start": start, "end": end})
    async for chunk in result.mappings().partitions(FETCH_ROWS):
        yield chunk
