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

from services.registry.households.scope import Scope
from services.registry.stats import repository
from services.registry.stats.service import FLOW_OF_STATUS

KINDS = ("new", "exits", "returns", "removals", "identified")

async def year_series(pool: asyncpg.Pool, *, scope: Scope, code: str, first: int, last: int
                      ) -> dict[str, Any] | None:
    """``{code, name, level, from, to, years: [{year, new, exits, returns, removals, identified}]}`` (each figure
    ``{households, persons}``, every year of the range listed); None for an unknown region."""
    found = await repository.year_series(pool, scope=scope, code=code, first=first, last=last)
    if found is None:
        return None
    region, rows = found
    years = {y: {k: {"households": 0, "persons": 0} for k in KINDS} for y in range(first, last + 1)}
    for r in rows:
        kind = FLOW_OF_STATUS.get(r["kind"], r["kind"])
        years[r["year"]][kind] = {"households": r["households"], "persons": r["persons"] or 0}
    return {"code": code, "name": region["name"], "level": region["level"], "from": first, "to": last,
            "years": [{"year": y, **figures} for y, figures in years.items()]}
