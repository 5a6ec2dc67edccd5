"""Statistics of a region subtree and of each child region, in two GROUP BY queries run side by side.

A household belongs to a child region by the prefix of its village code (``left(village_code, n)``, n = the
child level's significant digits), so every figure is grouped by child in the same pass and the region's own
figures are the sums over the groups (the groups partition its households). What happened in the year (status
moves, measures) is counted per village by the second query and rolled up the same way.

What the figures mean:

- ``by_status``: households and persons (members) by their status now.
- ``by_attribute``, ``by_main_cause``: over 建档立卡户 — households in the register (registered, exited or
  returned; not pending, not removed) — with ``poor_households``/``poor_persons`` for those not (or no longer)
  out of poverty (registered or returned).
- ``by_batch`` (五个一批, from measures): ``households`` with at least one measure of the batch in ``year`` and
  how many ``measures`` that year.
- ``in_year``, from the status history (``status_change``: every status move with the year it counts for, the
  year given with the transition or, for a 公示, with the proposal): ``new`` (纳入: became registered), ``exits``
  (became exited), ``returns`` (became returned), ``removals`` (清退) — distinct households that made that move
  in ``year``, with their persons at the move (脱贫人口 is counted as the household was when it exited);
  ``identified`` counts households (not removed) whose 识别年度 is ``year``, with their current persons.
- ``helper_coverage``: among registered and returned households, the share with a helper assigned.
- ``poverty_incidence`` (贫困发生率): persons of registered and returned households ÷ the region's
  ``rural_population``, rounded to 6 decimals; null when the population is 0.

Persons are ``household.member_count`` (kept in step with the members by every writer), and a status move
records the village and persons it happened with, so no query reads the member table and none joins the year's
events to the households: both queries are index-only scans of a covering index (statistics stay fast on a county
of 100,000 households without a cache that could go stale).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import asyncpg

from services.registry import glossary as g
from services.registry.households.scope import Scope
from services.registry.stats import repository
from shared import regions

REGISTER = ("registered", "exited", "returned")
POOR = ("registered", "returned")
CHILD_DIGITS = {"province": 4, "city": 6, "county": 9, "township": 12, "village": 12}

FLOW_OF_STATUS = {"registered": "new", "exited": "exits", "returned": "returns", "removed": "removals"}
FLOW_KINDS = ("new", "exits", "returns", "removals")


class _Acc:
    """The figures of one region, summed from the query rows."""

    def __init__(self) -> None:
        self.status: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.attribute: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.cause: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.identified = [0, 0]
        self.poor_with_helper = 0
        self.flows: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.batches: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add_households(self, r: asyncpg.Record) -> None:
        h, p = r["households"], r["persons"] or 0
        s = self.status[r["status"]]
        s[0] += h
        s[1] += p
        if r["status"] in REGISTER:
            poor = r["status"] in POOR
            for acc in (self.attribute[r["attribute"]], self.cause[r["main_cause"]]):
                acc[0] += h
                acc[1] += p
                if poor:
                    acc[2] += h
                    acc[3] += p
        if r["status"] in POOR:
            self.poor_with_helper += r["with_helper"]
        self.identified[0] += r["identified_households"]
        self.identified[1] += r["identified_persons"]

    def add_year(self, r: asyncpg.Record) -> None:
        flow = FLOW_OF_STATUS.get(r["kind"])
        if flow is not None:
            f = self.flows[flow]
            f[0] += r["households"]
            f[1] += r["persons"] or 0
        else:
            b = self.batches[r["kind"]]
            b[0] += r["households"]
            b[1] += r["measures"]

    def merge(self, other: _Acc) -> None:
        for mine, theirs in ((self.status, other.status), (self.attribute, other.attribute),
                             (self.cause, other.cause), (self.flows, other.flows), (self.batches, other.batches)):
            for k, values in theirs.items():
                acc = mine[k]
                for i, v in enumerate(values):
                    acc[i] += v
        self.identified = [a + b for a, b in zip(self.identified, other.identified, strict=True)]
        self.poor_with_helper += other.poor_with_helper

    def body(self, rural_population: int) -> dict[str, Any]:
        poor_h = sum(self.status[s][0] for s in POOR)
        poor_p = sum(self.status[s][1] for s in POOR)
        return {
            "households": sum(v[0] for v in self.status.values()),
            "persons": sum(v[1] for v in self.status.values()),
            "register_households": sum(self.status[s][0] for s in REGISTER),
            "register_persons": sum(self.status[s][1] for s in REGISTER),
            "poor_households": poor_h, "poor_persons": poor_p,
            "by_status": [{"code": c, "label": label, "households": self.status[c][0], "persons": self.status[c][1]}
                          for c, label in g.STATUS_LABELS.items()],
            "by_attribute": _dimension(self.attribute, g.ATTRIBUTE_LABELS),
            "by_main_cause": _dimension(self.cause, g.CAUSE_LABELS),
            "by_batch": [{"code": c, "label": label, "households": self.batches[c][0],
                          "measures": self.batches[c][1]} for c, label in g.BATCH_LABELS.items()],
            "in_year": {**{k: {"households": self.flows[k][0], "persons": self.flows[k][1]} for k in FLOW_KINDS},
                        "identified": {"households": self.identified[0], "persons": self.identified[1]}},
            "helper_coverage": {"households": poor_h, "with_helper": self.poor_with_helper,
                                "share": round(self.poor_with_helper / poor_h, 4) if poor_h else None},
            "rural_population": rural_population,
            "poverty_incidence": round(poor_p / rural_population, 6) if rural_population > 0 else None,
        }


def _dimension(values: dict[str, list[int]], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [{"code": c, "label": label, "households": values[c][0], "persons": values[c][1],
             "poor_households": values[c][2], "poor_persons": values[c][3]} for c, label in labels.items()]


async def region_stats(pool: asyncpg.Pool, *, scope: Scope, code: str, year: int) -> dict[str, Any] | None:
    """The statistics body for ``code`` (already checked to be in the caller's subtree); None if unknown."""
    level = regions.level_of(code)
    digits = CHILD_DIGITS[level]
    region_rows, household_rows, year_rows = await asyncio.gather(
        repository.region_and_children(pool, code),
        repository.household_tallies(pool, scope=scope, code=code, digits=digits, year=year),
        repository.year_tallies(pool, scope=scope, code=code, year=year))
    found = {r["code"].strip(): r for r in region_rows}
    me = found.pop(code, None)
    if me is None:
        return None
    per_child: dict[str, _Acc] = defaultdict(_Acc)
    for r in household_rows:
        per_child[r["child"]].add_households(r)
    for r in year_rows:         # grouped by village: rolled up to the child here
        per_child[r["village"][:digits]].add_year(r)
    total = _Acc()
    for acc in per_child.values():
        total.merge(acc)
    children = []
    if level != "village":
        for child_code, r in found.items():
            acc = per_child.get(child_code[:digits]) or _Acc()
            children.append({"code": child_code, "name": r["name"], "level": r["level"],
                             **acc.body(r["rural_population"])})
    return {"code": code, "name": me["name"], "level": me["level"], "year": year,
            **total.body(me["rural_population"]), "children": children}
