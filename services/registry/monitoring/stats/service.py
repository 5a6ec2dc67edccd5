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

from services.registry.households.scope import Scope
from services.registry.monitoring import clock
from services.registry.monitoring.reports.repository import OVERDUE_AFTER
from services.registry.monitoring.cases.glossary import CASE_STATUS_LABELS, CATEGORY_LABELS, RISK_LABELS
from services.registry.monitoring.stats import repository
from services.registry.stats import repository as registry_stats
from services.registry.stats.service import CHILD_DIGITS
from shared import regions

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
    cutoff = clock.now() - OVERDUE_AFTER
    region_rows, case_rows, risk_rows, figure_rows, overdue_rows = await asyncio.gather(
        registry_stats.region_and_children(pool, code),
        repository.cases_by_category_status(pool, scope=scope, code=code, digits=digits, year=year),
        repository.cases_by_risk(pool, scope=scope, code=code, digits=digits, year=year),
        repository.figures(pool, scope=scope, code=code, digits=digits, year=year),
        repository.overdue_reports(pool, scope=scope, code=code, digits=digits, before=cutoff))
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
