"""Every query of the region statistics and the year series: raw SQL on the pool (asyncpg), read-only, scoped once
here by the caller's household scope narrowed to the region asked for (a helper: the households assigned to
them). The figures are computed from these rows in service.py and years.py."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.registry.households.scope import Scope

# One pass over the subtree's households in the order of ix_household_village_tally (an index-only scan, grouped
# per village as it streams), rolled up to the child regions over those few thousand groups.
_HOUSEHOLDS = """
SELECT left(village_code, $3) AS child, status, attribute, main_cause, sum(households)::bigint AS households,
  sum(persons)::bigint AS persons, sum(identified_households)::bigint AS identified_households,
  sum(identified_persons)::bigint AS identified_persons, sum(with_helper)::bigint AS with_helper
FROM (
  SELECT village_code, status, attribute, main_cause, count(*) AS households, sum(member_count) AS persons,
    count(*) FILTER (WHERE identified_year = $4 AND status NOT IN ('removed', 'ordinary')) AS identified_households,
    coalesce(sum(member_count) FILTER (WHERE identified_year = $4 AND status NOT IN ('removed', 'ordinary')), 0)
      AS identified_persons,
    count(*) FILTER (WHERE helper_user_id IS NOT NULL) AS with_helper
  FROM household
  WHERE village_code BETWEEN $1 AND $2 {helper}
  GROUP BY 1, 2, 3, 4
) v
GROUP BY 1, 2, 3, 4"""

# What happened in the year, per village, from the rows of the year alone (ix_status_change_year_village and
# ix_measure_year_village cover them): households that made each status move, with their persons at the move, and
# households with measures of each 五个一批 batch (with the number of measures). Run beside the query above.
_IN_YEAR = """
SELECT village_code AS village, to_status AS kind, count(*) AS households, sum(persons)::bigint AS persons,
  0::bigint AS measures
FROM (
  SELECT household_id, to_status, min(village_code) AS village_code, max(persons) AS persons
  FROM status_change
  WHERE year = $3 AND village_code BETWEEN $1 AND $2 {helper}
    AND to_status IN ('registered', 'exited', 'returned', 'removed')
  GROUP BY household_id, to_status
) x
GROUP BY 1, 2
UNION ALL
SELECT village_code, batch, count(DISTINCT household_id), 0, count(*)
FROM measure
WHERE year = $3 AND village_code BETWEEN $1 AND $2 {helper}
GROUP BY 1, 2"""
_HELPER_HOUSEHOLDS = "AND helper_user_id = $5"
_HELPER_EVENTS = "AND household_id IN (SELECT id FROM household WHERE helper_user_id = $4)"

REGIONS = """
SELECT code, name, level, rural_population FROM region WHERE code = $1 OR parent_code = $1 ORDER BY code"""

# The year series (years.py): every year of a range in one query.
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
_SERIES_HELPER_EVENTS = "AND household_id IN (SELECT id FROM household WHERE helper_user_id = $5)"
_SERIES_HELPER_HOUSEHOLDS = "AND helper_user_id = $5"
_REGION = "SELECT name, level FROM region WHERE code = $1"


def subtree_range(scope: Scope, code: str) -> tuple[str, str]:
    """The village-code range of ``code``'s subtree within the caller's scope (empty when they do not meet)."""
    narrowed = scope.within(code)
    return ("1", "0") if narrowed is None else (narrowed.lo, narrowed.hi)


async def _fetch(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    """One query with room to aggregate in memory (the default work_mem spills these to disk); no parallel
    workers: the queries already run side by side."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 0")
        return await conn.fetch(query, *args)


async def region_and_children(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    """``code``'s region row and its children's (code, name, level, rural_population)."""
    return await _fetch(pool, REGIONS, code)


async def household_tallies(pool: asyncpg.Pool, *, scope: Scope, code: str, digits: int, year: int
                            ) -> list[asyncpg.Record]:
    """Households of the subtree per child (the first ``digits`` of the village code), status, attribute, cause."""
    lo, hi = subtree_range(scope, code)
    helper = () if scope.helper is None else (scope.helper,)
    return await _fetch(pool, _HOUSEHOLDS.format(helper=_HELPER_HOUSEHOLDS if helper else ""), lo, hi, digits,
                        year, *helper)


async def year_tallies(pool: asyncpg.Pool, *, scope: Scope, code: str, year: int) -> list[asyncpg.Record]:
    """The year's status moves and measures of the subtree, per village."""
    lo, hi = subtree_range(scope, code)
    helper = () if scope.helper is None else (scope.helper,)
    return await _fetch(pool, _IN_YEAR.format(helper=_HELPER_EVENTS if helper else ""), lo, hi, year, *helper)


async def year_series(pool: asyncpg.Pool, *, scope: Scope, code: str, first: int, last: int
                      ) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
    """The region's (name, level) and its subtree's moves and identifications per year; None for an unknown
    region."""
    lo, hi = subtree_range(scope, code)
    helper = () if scope.helper is None else (scope.helper,)
    sql = _SERIES.format(events=_SERIES_HELPER_EVENTS if helper else "",
                         households=_SERIES_HELPER_HOUSEHOLDS if helper else "")
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        region = await conn.fetchrow(_REGION, code)
        if region is None:
            return None
        # room to aggregate in memory, as the statistics' own queries have (the default work_mem spills to disk)
        await conn.execute("SET LOCAL work_mem = '64MB'")
        return region, await conn.fetch(sql, lo, hi, first, last, *helper)
