"""Monitoring statistics of a region subtree and of each child region, in three set-based queries run side by side.

As in stats/regions, a case belongs to a child region by the prefix of its village code (``left(village_code,
n)``), so every figure is grouped per child in one pass; the subtree's own figures are the sums over the children,
except the median, which the third query computes for the subtree too (``GROUPING SETS``).

What the figures mean (``year`` defaults to this year, China time):

- ``cases``, ``by_category``, ``by_status``, ``by_risk_type``: the cases of ``year`` (the year a case is reported
  for and judged on), by their category, their status now, and each risk type they name (a case naming two risk
  types counts under both);
- ``monitored_households``: households monitored now — their open case was approved (监测对象) and is neither
  eliminated nor rejected (an elimination 公示 under way still counts: the household is monitored until approved);
- ``eliminated_in_year``: cases approved as 风险消除 in ``year``;
- ``monitored_without_measure``: monitored households with no help measure recorded since their approval;
- ``median_days_to_approval``: the median of days (to a tenth, half up) from report to approval over the cases approved
  in ``year``; null when none was;
- ``overdue_reports``: 一码申报 reports still open more than two days after they came in (now, whatever ``year``).

A helper's figures cover the households assigned to them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg

from services.registry.households.scope import Scope, bounds
from services.registry.monitoring import clock
from services.registry.monitoring.reports.repository import OVERDUE_AFTER
from services.registry.monitoring.cases.glossary import CASE_STATUS_LABELS, CATEGORY_LABELS, RISK_LABELS
from services.registry.stats.service import _REGIONS, CHILD_DIGITS
from shared import regions

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


class _Acc:
    def __init__(self) -> None:
        self.category: dict[str, int] = defaultdict(int)
        self.status: dict[str, int] = defaultdict(int)
        self.risk: dict[str, int] = defaultdict(int)
        self.monitored = self.eliminated = self.without_measure = self.overdue = 0
        self.median: float | None = None

    def add_case(self, r: asyncpg.Record) -> None:
        self.category[r["category"]] += r["cases"]
        self.status[r["status"]] += r["cases"]

    def add_figures(self, r: asyncpg.Record) -> None:
        self.monitored += r["monitored"]
        self.eliminated += r["eliminated"]
        self.without_measure += r["without_measure"]

    def merge(self, other: _Acc) -> None:
        for mine, theirs in ((self.category, other.category), (self.status, other.status), (self.risk, other.risk)):
            for k, v in theirs.items():
                mine[k] += v
        self.monitored += other.monitored
        self.eliminated += other.eliminated
        self.without_measure += other.without_measure
        self.overdue += other.overdue

    def body(self) -> dict[str, Any]:
        return {
            "cases": sum(self.category.values()),
            "by_category": _dimension(self.category, CATEGORY_LABELS),
            "by_status": _dimension(self.status, CASE_STATUS_LABELS),
            "by_risk_type": _dimension(self.risk, RISK_LABELS),
            "monitored_households": self.monitored, "eliminated_in_year": self.eliminated,
            "monitored_without_measure": self.without_measure, "overdue_reports": self.overdue,
            "median_days_to_approval": None if self.median is None else float(
                Decimal(repr(self.median)).quantize(Decimal("0.1"), ROUND_HALF_UP)),
        }


def _dimension(values: dict[str, int], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [{"code": c, "label": label, "cases": values[c]} for c, label in labels.items()]


async def monitoring_stats(pool: asyncpg.Pool, *, scope: Scope, code: str, year: int) -> dict[str, Any] | None:
    """The body for ``code`` (already checked to be in the caller's subtree); None if unknown."""
    level = regions.level_of(code)
    digits = CHILD_DIGITS[level]
    lo, hi = bounds(code)
    extra = () if scope.helper is None else (scope.helper,)
    helper = _HELPER if extra else ""
    cutoff = clock.now() - OVERDUE_AFTER
    region_rows, case_rows, risk_rows, figure_rows, overdue_rows = await asyncio.gather(
        _fetch(pool, _REGIONS, code),
        _fetch(pool, _BY_CATEGORY_STATUS.format(helper=helper), lo, hi, digits, year, *extra),
        _fetch(pool, _BY_RISK.format(helper=helper), lo, hi, digits, year, *extra),
        _fetch(pool, _FIGURES.format(helper=helper), lo, hi, digits, year, *extra),
        _fetch(pool, _OVERDUE.format(helper=_REPORT_HELPER if extra else ""), lo, hi, digits, cutoff, *extra))
    found = {r["code"].strip(): r for r in region_rows}
    me = found.pop(code, None)
    if me is None:
        return None
    per_child: dict[str, _Acc] = defaultdict(_Acc)
    total = _Acc()
    for r in case_rows:
        per_child[r["child"]].add_case(r)
    for r in risk_rows:
        per_child[r["child"]].risk[r["risk"]] += r["cases"]
    for r in overdue_rows:
        per_child[r["child"]].overdue += r["overdue"]
    medians: dict[str, float | None] = {}
    for r in figure_rows:
        if r["total"]:
            total.median = r["median_days"]
        else:
            per_child[r["child"]].add_figures(r)
            medians[r["child"]] = r["median_days"]
    for child, acc in per_child.items():
        acc.median = medians.get(child)
        total.merge(acc)
    children = []
    if level != "village":
        for child_code, r in found.items():
            acc = per_child.get(child_code[:digits]) or _Acc()
            children.append({"code": child_code, "name": r["name"], "level": r["level"], **acc.body()})
    return {"code": code, "name": me["name"], "level": me["level"], "year": year, **total.body(),
            "children": children}
