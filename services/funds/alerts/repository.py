"""滞留滞拨 queries: computed in SQL over the ledger and the projects, set-based (no row-by-row loop).

Days are whole calendar days in China Standard Time (no daylight saving): money whose last movement was on
2026-09-01 has been idle 91 days on 2026-12-01, whatever the hour of either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.glossary import OPEN_PROJECT_STATUSES

CHINA_TZ = "Asia/Shanghai"

# Every alert of a scope: allocations whose available money has not moved out (a commitment, a 调项 out, a
# reversal) for more than :idle_days days since the last such movement or, without one, since the allocation;
# open projects held in their status for more than :stage_days days.
_ALERTS = f"""
WITH idle AS (
  SELECT 'idle_allocation'::text AS kind, 'allocation'::text AS entity, a.id AS entity_id, a.region_code,
         coalesce(o.last_out, a.created_at) AS since, acc.balance AS amount, a.purpose, a.doc_no,
         NULL::text AS status, NULL::text AS name
  FROM allocation a
  JOIN ledger_account acc ON acc.allocation_id = a.id AND acc.kind = 'available'
  LEFT JOIN LATERAL (SELECT max(e.at) AS last_out FROM ledger_line l JOIN ledger_entry e ON e.id = l.entry_id
                     WHERE l.account_id = acc.id AND l.amount < 0) o ON true
  WHERE acc.balance > 0 AND a.region_code LIKE :prefix
), stale AS (
  SELECT 'stale_project'::text, 'project'::text, p.id, p.village_code, p.status_since, p.budget, p.purpose,
         NULL::text, p.status::text, p.name::text
  FROM project p
  WHERE p.status = ANY(CAST(:open AS text[])) AND p.village_code LIKE :prefix
), alerts AS (
  SELECT x.*, CAST(:as_of AS date) - CAST(timezone('{CHINA_TZ}', x.since) AS date) AS days
  FROM (SELECT * FROM idle UNION ALL SELECT * FROM stale) x
)
SELECT * FROM alerts
WHERE ((kind = 'idle_allocation' AND days > :idle_days) OR (kind = 'stale_project' AND days > :stage_days))
"""

ORDER = " ORDER BY since, kind, entity_id"


def _params(*, prefix: str, as_of: date, idle_days: int, stage_days: int) -> dict[str, Any]:
    return {"prefix": prefix + "%", "as_of": as_of, "idle_days": idle_days, "stage_days": stage_days,
            "open": list(OPEN_PROJECT_STATUSES)}


async def today(session: AsyncSession) -> date:
    """The date in China now, by the database's clock (the one the ledger's times come from)."""
    return (await session.execute(text(f"SELECT CAST(timezone('{CHINA_TZ}', now()) AS date)"))).scalar_one()


async def page(session: AsyncSession, *, prefix: str, as_of: date, idle_days: int, stage_days: int, limit: int,
               after: tuple[datetime, str, int] | None) -> Sequence[Mapping[str, Any]]:
    """Up to ``limit`` alerts of the subtree ``prefix`` after the key ``after`` (since, kind, entity id), oldest
    first."""
    params = _params(prefix=prefix, as_of=as_of, idle_days=idle_days, stage_days=stage_days) | {"n": limit}
    sql = _ALERTS
    if after is not None:
        sql += (" AND (since, kind, entity_id) > "
                "(CAST(:a_since AS timestamptz), CAST(:a_kind AS text), CAST(:a_id AS bigint))")
        params |= {"a_since": after[0], "a_kind": after[1], "a_id": after[2]}
    return (await session.execute(text(sql + ORDER + " LIMIT :n"), params)).mappings().all()


# The counties with alerts: for each, the count per kind and its first :top alerts (oldest first). Money held
# above county level (a city's or a province's allocation) belongs to no county and is left out.
_BY_COUNTY = f"""
WITH a AS ({_ALERTS}), c AS (
  SELECT a.*, left(a.region_code, 6) || '000000' AS county,
         row_number() OVER (PARTITION BY left(a.region_code, 6) ORDER BY since, kind, entity_id) AS rank
  FROM a WHERE substr(a.region_code, 5, 2) <> '00'
)
SELECT county, kind, count(*) AS n, NULL::jsonb AS items FROM c GROUP BY county, kind
UNION ALL
SELECT county, NULL, NULL, jsonb_agg(jsonb_build_object(
         'kind', kind, 'entity', entity, 'entity_id', entity_id, 'region_code', region_code, 'since', since,
         'days', days, 'amount', amount, 'purpose', purpose, 'doc_no', doc_no, 'status', status, 'name', name)
       ORDER BY rank)
FROM c WHERE rank <= :top GROUP BY county
"""


async def by_county(session: AsyncSession, *, as_of: date, idle_days: int, stage_days: int, top: int
                    ) -> dict[str, dict[str, Any]]:
    """county code → {"counts": {kind: n}, "items": [alert row, …]} for every county with alerts."""
    rows = (await session.execute(text(_BY_COUNTY), _params(prefix="", as_of=as_of, idle_days=idle_days,
                                                            stage_days=stage_days) | {"top": top})).all()
    out: dict[str, dict[str, Any]] = {}
    for county, kind, n, items in rows:
        entry = out.setdefault(county, {"counts": {}, "items": []})
        if kind is not None:
            entry["counts"][kind] = n
        else:
            entry["items"] = items
    return out


async def lock_day(session: AsyncSession, as_of: date) -> None:
    """One digest run per day at a time, across workers: held until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('funds.alerts'), hashtext(:d))"),
                          {"d": as_of.isoformat()})


async def sent_events(session: AsyncSession, event_ids: Sequence[Any]) -> set[Any]:
    """Which of these digest events the outbox already holds."""
    rows = await session.execute(text("SELECT event_id FROM outbox WHERE event_id = ANY(:ids)"),
                                 {"ids": list(event_ids)})
    return {r[0] for r in rows}
