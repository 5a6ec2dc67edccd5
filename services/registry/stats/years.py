"""The year series of a region subtree: new / exits / returns / removals / identified, year by year, in one query.

Each year's figures mean exactly what ``in_year`` means in :mod:`services.registry.stats.service` (distinct
households that made the move in that year, with their persons at the move; ``identified``: households not
removed whose 识别年度 is that year, with their current persons), so the dashboard's lines (2014 to now) equal the
per-year statistics without one request per year. Both branches read only the rows of the years asked for
(``ix_status_change_year_village``, ``ix_household_village_tally``).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.registry.households.scope import Scope, bounds
from services.registry.stats.service import FLOW_OF_STATUS

KINDS = ("new", "exits", "returns", "removals", "identified")

_SERIES = """
SELECT year, to_status AS kind, count(*)::bigint AS households, sum(persons)::bigint AS persons
FROM (
  SELECT household_id, year, to_status, max(persons) AS persons
  FROM status_change
  WHERE year BETWEEN $3 AND $4 AND village_code BETWEEN $1 AND $2 {events}
    AND to_status IN ('registered', 'exited', 'returned', 'removed')
  GROUP BY household_id, year, to_status
) x
GROUP BY 1, 2
UNION ALL
SELECT identified_year, 'identified', count(*)::bigint, coalesce(sum(member_count), 0)::bigint
FROM household
WHERE village_code BETWEEN $1 AND $2 AND identified_year BETWEEN $3 AND $4 AND status <> 'removed' {households}
GROUP BY 1"""
_HELPER_EVENTS = "AND household_id IN (SELECT id FROM household WHERE helper_user_id = $5)"
_HELPER_HOUSEHOLDS = "AND helper_user_id = $5"
_REGION = "SELECT name, level FROM region WHERE code = $1"


async def year_series(pool: asyncpg.Pool, *, scope: Scope, code: str, first: int, last: int
                      ) -> dict[str, Any] | None:
    """``{code, name, level, from, to, years: [{year, new, exits, returns, removals, identified}]}`` (each figure
    ``{households, persons}``, every year of the range listed); None for an unknown region."""
    lo, hi = bounds(code)
    helper = () if scope.helper is None else (scope.helper,)
    sql = _SERIES.format(events=_HELPER_EVENTS if helper else "", households=_HELPER_HOUSEHOLDS if helper else "")
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        region = await conn.fetchrow(_REGION, code)
        if region is None:
            return None
        # room to aggregate in memory, as the statistics' own queries have (the default work_mem spills to disk)
        await conn.execute("SET LOCAL work_mem = '64MB'")
        rows = await conn.fetch(sql, lo, hi, first, last, *helper)
    years = {y: {k: {"households": 0, "persons": 0} for k in KINDS} for y in range(first, last + 1)}
    for r in rows:
        kind = FLOW_OF_STATUS.get(r["kind"], r["kind"])
        years[r["year"]][kind] = {"households": r["households"], "persons": r["persons"] or 0}
    return {"code": code, "name": region["name"], "level": region["level"], "from": first, "to": last,
            "years": [{"year": y, **figures} for y, figures in years.items()]}
