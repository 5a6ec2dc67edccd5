"""Every query of the monitoring statistics: raw SQL on the pool (asyncpg), read-only, scoped once here by the
caller's household scope narrowed to the region asked for (a helper: the households assigned to them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.registry.households.scope import Scope
from services.registry.stats.repository import subtree_range

MONITORED = "c.approved_at IS NOT NULL AND c.status NOT IN ('eliminated', 'rejected')"
_HELPER = "AND c.household_id IN (SELECT id FROM household WHERE helper_user_id = $5)"

_BY_CATEGORY_STATUS = """
SELECT left(c.village_code, $3) AS child, c.category, c.status, count(*) AS cases
FROM monitoring_case c
WHERE c.village_code BETWEEN $1 AND $2 AND c.year = $4 {helper}
GROUP BY 1, 2, 3"""

_BY_RISK = """
SELECT left(c.village_code, $3) AS child, r.risk, count(*) AS cases
FROM monitoring_case c CROSS JOIN LATERAL unnest(c.risk_types) AS r(risk)
WHERE c.village_code BETWEEN $1 AND $2 AND c.year = $4 {helper}
GROUP BY 1, 2"""

_FIGURES = f"""
SELECT left(c.village_code, $3) AS child, grouping(left(c.village_code, $3)) AS total,
  count(*) FILTER (WHERE {MONITORED}) AS monitored,
  count(*) FILTER (WHERE c.status = 'eliminated'
                   AND extract(year FROM c.closed_at AT TIME ZONE 'Asia/Shanghai') = $4) AS eliminated,
  count(*) FILTER (WHERE {MONITORED} AND (lm.last_at IS NULL OR lm.last_at < c.approved_at)) AS without_measure,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.approved_at - c.reported_at) / 86400)
    FILTER (WHERE extract(year FROM c.approved_at AT TIME ZONE 'Asia/Shanghai') = $4) AS median_days
FROM monitoring_case c
LEFT JOIN (   -- the last measure of each household ever approved here: "a measure since approval" is last_at ≥ it
  SELECT m.household_id, max(m.created_at) AS last_at FROM measure m
  WHERE m.household_id IN (SELECT household_id FROM monitoring_case
                           WHERE village_code BETWEEN $1 AND $2 AND approved_at IS NOT NULL)
  GROUP BY 1) lm ON lm.household_id = c.household_id
WHERE c.village_code BETWEEN $1 AND $2 {{helper}}
GROUP BY GROUPING SETS ((left(c.village_code, $3)), ())"""


_OVERDUE = """
SELECT left(r.village_code, $3) AS child, count(*) AS overdue
FROM monitoring_report r
WHERE r.village_code BETWEEN $1 AND $2 AND r.status = 'open' AND r.created_at < $4 {helper}
GROUP BY 1"""
_REPORT_HELPER = "AND r.household_id IN (SELECT id FROM household WHERE helper_user_id = $5)"


async def _fetch(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    """One read-only query without parallel workers (the three run side by side) or JIT (compiling costs more
    than these scans of a county's cases take)."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0")
        return await conn.fetch(query, *args)


async def cases_by_category_status(pool: asyncpg.Pool, *, scope: Scope, code: str, digits: int, year: int
                                   ) -> list[asyncpg.Record]:
    lo, hi = subtree_range(scope, code)
    extra = () if scope.helper is None else (scope.helper,)
    return await _fetch(pool, _BY_CATEGORY_STATUS.format(helper=_HELPER if extra else ""), lo, hi, digits, year,
                        *extra)


async def cases_by_risk(pool: asyncpg.Pool, *, scope: Scope, code: str, digits: int, year: int
                        ) -> list[asyncpg.Record]:
    lo, hi = subtree_range(scope, code)
    extra = () if scope.helper is None else (scope.helper,)
    return await _fetch(pool, _BY_RISK.format(helper=_HELPER if extra else ""), lo, hi, digits, year, *extra)


async def figures(pool: asyncpg.Pool, *, scope: Scope, code: str, digits: int, year: int) -> list[asyncpg.Record]:
    """Monitored, eliminated, without a measure and the median days per child, and for the subtree (``total``)."""
    lo, hi = subtree_range(scope, code)
    extra = () if scope.helper is None else (scope.helper,)
    return await _fetch(pool, _FIGURES.format(helper=_HELPER if extra else ""), lo, hi, digits, year, *extra)


async def overdue_reports(pool: asyncpg.Pool, *, scope: Scope, code: str, digits: int, before: datetime
                          ) -> list[asyncpg.Record]:
    """Open reports that came in before ``before``, per child."""
    lo, hi = subtree_range(scope, code)
    extra = () if scope.helper is None else (scope.helper,)
    return await _fetch(pool, _OVERDUE.format(helper=_REPORT_HELPER if extra else ""), lo, hi, digits, before,
                        *extra)
