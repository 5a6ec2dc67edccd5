"""The case rules in one place, as tables: which household status each category needs, which role takes each
step, which move each action makes from which status, and the conditions of 风险消除 (CONTRACT §11)."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.assistance import repository as assistance
from services.registry.assistance.service import all_assured
from services.registry.glossary import STATUS_LABELS, Status
from services.registry.monitoring.cases import repository
from services.registry.monitoring.cases.glossary import ELIMINATION_UNMET_LABELS, CaseStatus, Category, Phase
from services.registry.monitoring.thresholds import service as thresholds
from shared.auth import Role

CHINA = ZoneInfo("Asia/Shanghai")
MONTHS_BEFORE_ELIMINATION = 6
NO_LABOR = frozenset({"lost", "none"})

# category → the household statuses it may be reported for
CATEGORY_STATUSES: dict[Category, frozenset[str]] = {
    Category.unstable: frozenset({Status.exited}),
    Category.marginal: frozenset({Status.ordinary}),
    Category.sudden: frozenset(Status) - {Status.registered, Status.returned, Status.removed},
}
CATEGORY_RULES = {
    Category.unstable: "脱贫不稳定户 (unstable) is for an exited (已脱贫) household",
    Category.marginal: "边缘易致贫户 (marginal) is for an ordinary (一般农户) household",
    Category.sudden: "突发严重困难户 (sudden) is for any household but a registered (在册), returned (返贫) or "
                     "removed (清退) one",
}

# step → the roles that take it; a county_admin (and a service) may take every step
STEP_ROLES: dict[str, frozenset[Role]] = {
    "report": frozenset({Role.village_cadre}),
    "verify": frozenset({Role.village_cadre}),
    "publicize": frozenset({Role.township_officer}),
    "approve": frozenset({Role.county_admin}),
    "propose_elimination": frozenset({Role.county_admin}),
    "reject": frozenset({Role.township_officer}),
}
ALWAYS = frozenset({Role.county_admin.value, Role.service.value})

OPEN = frozenset(CaseStatus) - {CaseStatus.eliminated, CaseStatus.rejected}
# (action, status, phase) → the status it leads to; anything else is an illegal move (409)
MOVES: dict[tuple[str, str, str], str] = {
    ("verify", CaseStatus.reported, Phase.inclusion): CaseStatus.verified,
    ("publicize", CaseStatus.verified, Phase.inclusion): CaseStatus.publicized,
    ("approve", CaseStatus.publicized, Phase.inclusion): CaseStatus.approved,
    # again after an upheld objection to the elimination 公示 sent the case back to approved
    **{("propose_elimination", CaseStatus.approved, p): CaseStatus.publicized for p in Phase},
    ("approve", CaseStatus.publicized, Phase.elimination): CaseStatus.eliminated,
    **{("reject", s, p): CaseStatus.rejected for s in OPEN for p in Phase},
}
# where an upheld objection (or a withdrawn 公示) sends a publicized case back to, per phase
BACK = {Phase.inclusion: CaseStatus.verified, Phase.elimination: CaseStatus.approved}


def may_take(role: str, step: str) -> bool:
    return role in ALWAYS or role in STEP_ROLES[step]


def roles_of(step: str) -> list[str]:
    return sorted({Role.county_admin.value, *(r.value for r in STEP_ROLES[step])})


def category_fits(category: Category, household_status: str) -> bool:
    return household_status in CATEGORY_STATUSES[category]


def household_status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later (the month's last day when it is shorter)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


def today() -> date:
    """The China date the rules go by (tests move it)."""
    return datetime.now(CHINA).date()


async def elimination_unmet(session: AsyncSession, case: Mapping[str, Any], *, year: int) -> list[str]:
    """Every condition of 风险消除 not met, as codes (``ELIMINATION_UNMET_LABELS``): 6 calendar months since
    approval; per-capita net income of ``year`` above that year's 监测标准 (equal is not above); the six
    assurances of ``year``; a help measure recorded since approval; and not every member without labour
    (such a household stays monitored under 兜底保障)."""
    unmet: list[str] = []
    approved_at: datetime = case["approved_at"]
    if today() < add_months(china_day(approved_at), MONTHS_BEFORE_ELIMINATION):
        unmet.append("too_soon")
    household_id = case["household_id"]
    income = await assistance.income(session, household_id=household_id, year=year)
    threshold = await thresholds.applicable_fen(session, year=year, village_code=case["village_code"])
    if income is None:
        unmet.append("income_missing")
    elif threshold is None:
        unmet.append("threshold_missing")
    elif income["per_capita_net_fen"] <= threshold:
        unmet.append("income_not_above_threshold")
    unmet += all_assured(await assistance.assurance(session, household_id=household_id, year=year))
    if await repository.measures_since(session, household_id=household_id, since=approved_at) == 0:
        unmet.append("no_measure_since_approval")
    labor = await repository.labor_of_members(session, household_id)
    if labor and all(x in NO_LABOR for x in labor):
        unmet.append("no_labor_dibao_support")
    return unmet


def labelled(codes: list[str], labels: Mapping[str, str] = ELIMINATION_UNMET_LABELS) -> list[dict[str, str]]:
    return [{"code": c, "label": labels[c]} for c in codes]
