"""Per-purpose totals of a subtree's allocations in one set-based query over their ledger accounts.

Idle money (滞留滞拨) is counted as the alerts count it (services/funds/alerts/repository.py): the available
balance of an allocation none of whose available money has moved out for more than ``idle_days`` whole days
(China Standard Time) since the last such movement or, never drawn, since the allocation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.alerts.repository import CHINA_TZ, today

__all__ = ["per_purpose", "today"]

_PER_PURPOSE = f"""
SELECT a.purpose, count(*) AS allocations,
  sum(av.balance + c.balance + s.balance) AS amount, sum(c.balance) AS committed, sum(s.balance) AS spent,
  sum(av.balance) AS available,
  coalesce(sum(av.balance) FILTER (WHERE av.balance > 0 AND CAST(:as_of AS date)
      - CAST(timezone('{CHINA_TZ}', coalesce(o.last_out, a.created_at)) AS date) > :idle_days), 0) AS idle,
  count(*) FILTER (WHERE av.balance > 0 AND CAST(:as_of AS date)
      - CAST(timezone('{CHINA_TZ}', coalesce(o.last_out, a.created_at)) AS date) > :idle_days) AS idle_allocations
FROM allocation a
JOIN ledger_account av ON av.allocation_id = a.id AND av.kind = 'available'
JOIN ledger_account c ON c.allocation_id = a.id AND c.kind = 'committed'
JOIN ledger_account s ON s.allocation_id = a.id AND s.kind = 'spent'
LEFT JOIN LATERAL (SELECT max(e.at) AS last_out FROM ledger_line l JOIN ledger_entry e ON e.id = l.entry_id
                   WHERE l.account_id = av.id AND l.amount < 0) o ON true
WHERE a.region_code LIKE :prefix AND (CAST(:year AS integer) IS NULL OR a.year = CAST(:year AS integer))
GROUP BY a.purpose
"""


async def per_purpose(session: AsyncSession, *, prefix: str, year: int | None, as_of: Any, idle_days: int
                      ) -> Sequence[Mapping[str, Any]]:
    """One row per purpose that has allocations in the subtree ``prefix`` (and ``year``, if given); amounts in fen."""
    params = {"prefix": prefix + "%", "year": year, "as_of": as_of, "idle_days": idle_days}
    return (await session.execute(text(_PER_PURPOSE), params)).mappings().all()
