"""A household's status over time, for funds (贴息 by the status of each day), from what the registry records:

- every status move made here is a ``status_change`` row with its moment (``at``): the new status holds from that
  day (China time) on; of several moves on one day the last one counts;
- before the first recorded move (households imported with their status), the year columns say since when:
  ``registered_year`` (registered), ``exit_year`` (exited), ``returned_year`` (returned), ``removed_year``
  (removed), each from 1 January of its year, unless a recorded move leads to that status (the move is exact),
  and only those the status then can have come through (registered ← exited ← returned, any before removed; a
  pending household has no past status);
- the status the household had before its first move (or has now, with no move and no year) holds from the day
  it was created (or of its first move, if that is earlier: a move recorded with its own date).

Days before the first interval have no status. One set-based query for all the ids asked for."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

HISTORY = text("""
WITH ids AS (SELECT DISTINCT unnest(CAST(:ids AS bigint[])) AS id),
h AS (SELECT h.id, h.status, h.created_at, h.registered_year, h.exit_year, h.returned_year, h.removed_year
      FROM household h JOIN ids ON ids.id = h.id),
moves AS (
  SELECT s.household_id, (s.at AT TIME ZONE 'Asia/Shanghai')::date AS day, s.to_status AS status, s.from_status,
         s.id::numeric AS ord
  FROM status_change s JOIN ids ON ids.id = s.household_id),
first_move AS (
  SELECT DISTINCT ON (household_id) household_id, day, from_status FROM moves ORDER BY household_id, day, ord),
pre AS (
  SELECT h.id AS household_id, make_date(y.year, 1, 1) AS day, y.status, y.rank - 10 AS ord
  FROM h CROSS JOIN LATERAL (VALUES (h.registered_year, 'registered', 1), (h.exit_year, 'exited', 2),
                                    (h.returned_year, 'returned', 3), (h.removed_year, 'removed', 4))
       AS y(year, status, rank)
  LEFT JOIN first_move f ON f.household_id = h.id
  WHERE y.year IS NOT NULL AND (f.day IS NULL OR make_date(y.year, 1, 1) < f.day)
    AND y.status = ANY(CASE coalesce(f.from_status, h.status)
                         WHEN 'registered' THEN ARRAY['registered']
                         WHEN 'exited' THEN ARRAY['registered', 'exited']
                         WHEN 'returned' THEN ARRAY['registered', 'exited', 'returned']
                         WHEN 'removed' THEN ARRAY['registered', 'exited', 'returned', 'removed']
                         ELSE ARRAY[]::text[] END)
    AND NOT EXISTS (SELECT 1 FROM moves m WHERE m.household_id = h.id AND m.status = y.status)),
start AS (
  SELECT h.id AS household_id, least((h.created_at AT TIME ZONE 'Asia/Shanghai')::date, f.day) AS day,
         coalesce(f.from_status, h.status) AS status, -100::numeric AS ord
  FROM h LEFT JOIN first_move f ON f.household_id = h.id
  WHERE NOT EXISTS (SELECT 1 FROM pre p WHERE p.household_id = h.id AND p.status = coalesce(f.from_status, h.status))),
rows AS (
  SELECT household_id, day, status, ord FROM pre
  UNION ALL SELECT household_id, day, status, ord FROM start
  UNION ALL SELECT household_id, day, status, ord FROM moves),
days AS (
  SELECT DISTINCT ON (household_id, day) household_id, day, status FROM rows ORDER BY household_id, day, ord DESC),
spans AS (
  SELECT household_id, day, status, lead(day) OVER (PARTITION BY household_id ORDER BY day) AS next_day FROM days)
SELECT household_id, json_agg(json_build_object('status', status, 'from', day, 'to', next_day) ORDER BY day)
       AS intervals
FROM spans GROUP BY household_id ORDER BY household_id""")


async def status_history(session: AsyncSession, household_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Per known household (by id): its status intervals, ``from`` inclusive, ``to`` exclusive (null: until now)."""
    rows = (await session.execute(HISTORY, {"ids": list(household_ids)})).all()
    return [{"household_id": r.household_id, "intervals": r.intervals} for r in rows]
