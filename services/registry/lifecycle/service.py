"""The status lifecycle (CONTRACT §4):

    pending ──propose_registration (公示)──► registered ──propose_exit (公示)──► exited
                                                ▲                               │
                                returned ◄──mark_returned───────────────────────┘
                                    └──────propose_exit (公示)──► exited
    any ──remove──► removed

Proposals open a 公示 notice in funds and wait (``pending_action``); the status moves when ``notice.closed``
arrives (lifecycle/handlers.py). ``mark_returned`` and ``remove`` take effect at once, with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.assistance import repository as assistance
from services.registry.assistance.service import all_assured
from services.registry.clients import funds
from services.registry.glossary import (
    ACTION_LABELS,
    STATUS_LABELS,
    UNMET_LABELS,
    Action,
    Status,
)
from services.registry.households import repository as households
from services.registry.households.scope import OFFICERS, Scope
from services.registry.lifecycle import repository
from services.registry.lifecycle.schemas import TransitionIn
from services.registry.poverty_lines import service as poverty_lines
from shared import audit
from shared.http import ServiceClient
from shared.pii import PiiCipher
from shared.problems import Conflict, Forbidden, Unprocessable

CHINA = ZoneInfo("Asia/Shanghai")

# action → (statuses it may start from, the notice kind it opens or None, the status it leads to)
RULES: dict[Action, tuple[frozenset[str], str | None, str]] = {
    Action.propose_registration: (frozenset({Status.pending}), "registration", Status.registered),
    Action.propose_exit: (frozenset({Status.registered, Status.returned}), "exit", Status.exited),
    Action.mark_returned: (frozenset({Status.exited}), None, Status.returned),
    Action.remove: (frozenset(Status) - {Status.removed}, None, Status.removed),
}
KIND_ACTION = {"registration": Action.propose_registration, "exit": Action.propose_exit}
YEAR_COLUMN = {Status.registered: "registered_year", Status.exited: "exit_year", Status.returned: "returned_year",
               Status.removed: "removed_year"}


def this_year() -> int:
    return datetime.now(CHINA).year


def _missing(field: str, why: str) -> Unprocessable:
    return Unprocessable(why, errors=[{"loc": ["body", field], "msg": why}])


async def exit_unmet(session: AsyncSession, *, household_id: int, year: int) -> list[str]:
    """What stands in the way of an exit in ``year``: income above that year's poverty line, six assurances."""
    unmet: list[str] = []
    income = await assistance.income(session, household_id=household_id, year=year)
    line = await poverty_lines.amount_fen(session, year)
    if income is None:
        unmet.append("income_missing")
    elif line is None:
        unmet.append("poverty_line_missing")
    elif income["per_capita_net_fen"] <= line:
        unmet.append("income_below_line")
    unmet += all_assured(await assistance.assurance(session, household_id=household_id, year=year))
    return unmet


async def _notice_items(session: AsyncSession, cipher: PiiCipher, household: Mapping[str, Any]) -> list[dict]:
    head = await households.head_of(session, household["id"])
    return [{"ref": str(household["id"]), "name": household["head_name"],
             "id_number": cipher.decrypt(bytes(head["id_enc"]), field="id_number") if head else None,
             "phone": cipher.decrypt_opt(household["phone_enc"] and bytes(household["phone_enc"]), field="phone"),
             "address": household["address"], "attribute": household["attribute"],
             "main_cause": household["main_cause"], "members": household["member_count"]}]


async def transition(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, services: ServiceClient,
                     household: Mapping[str, Any], transition_in: TransitionIn) -> None:
    action = transition_in.action
    froms, kind, target = RULES[action]
    if kind is None and scope.role not in OFFICERS and scope.role != "service":
        raise Forbidden(f"{ACTION_LABELS[action]} is for county and township officers",
                        zh=f"{ACTION_LABELS[action]}须由县、乡镇干部操作")
    status = household["status"]
    if status not in froms:
        raise Conflict(f"cannot {action.value} a household that is {status} ({STATUS_LABELS[status]})",
                       zh=f"「{STATUS_LABELS[status]}」的户不能{ACTION_LABELS[action]}",
                       title_zh="当前状态不能进行此变更", slug="illegal-transition", status_now=status, action=action.value)
    if kind is not None and household["pending_action"]:
        raise Conflict(f"a {household['pending_action']} is already waiting for notice "
                       f"{household['pending_notice_id']}", slug="proposal-pending",
                       pending_action={"action": household["pending_action"],
                                       "notice_id": household["pending_notice_id"]})
    reason = transition_in.reason or None
    if kind is None and not reason:
        raise _missing("reason", f"{action.value} needs a reason")

    if kind is not None:
        if action is Action.propose_exit:
            if transition_in.year is None:
                raise _missing("year", "propose_exit needs the year whose income and assurances count")
            year = transition_in.year
            unmet = await exit_unmet(session, household_id=household["id"], year=year)
            if unmet:
                raise Conflict("the household does not meet the exit conditions for " + str(year) + ": "
                               + "、".join(UNMET_LABELS[u] for u in unmet), slug="exit-conditions-unmet",
                               zh=f"{year} 年未达到脱贫标准：" + "、".join(UNMET_LABELS[u] for u in unmet),
                               title="Exit conditions not met", title_zh="未达到脱贫标准", unmet=unmet, year=year)
        else:
            year = transition_in.year or this_year()
        village = household["village_name"] or household["village_code"]
        title = (f"{village}{year}年度贫困户{'识别纳入' if kind == 'registration' else '退出'}公示"
                 f"（{household['household_no']} {household['head_name']}户）")
        notice = await funds.open_notice(
            services, kind=kind, region_code=household["village_code"], title=title,
            requester_ref=f"registry/household/{household['id']}/{kind}/v{household['version']}",
            items=await _notice_items(session, cipher, household), region_name=household["village_name"])
        notice_id = int(notice["id"])
        await households.update_household(session, household_id=household["id"], values={
            "pending_action": action.value, "pending_notice_id": notice_id, "pending_year": year})
        await audit.record(session, actor=scope.actor, action=f"household.{action.value}", entity="household",
                           entity_id=household["id"], diff={"notice_id": notice_id, "year": year, "reason": reason})
        return

    year = transition_in.year or this_year()
    await households.update_household(session, household_id=household["id"], values={
        "status": target.value, YEAR_COLUMN[target]: year, "status_reason": reason,
        "pending_action": None, "pending_notice_id": None, "pending_year": None})
    await repository.record_change(session, household_id=household["id"], action=action.value, from_status=status,
                                   to_status=target.value, year=year, reason=reason, actor=scope.actor)
    await audit.record(session, actor=scope.actor, action=f"household.{action.value}", entity="household",
                       entity_id=household["id"],
                       diff={"from": status, "to": target.value, "year": year, "reason": reason,
                             "cancelled_notice": household["pending_notice_id"]})


async def apply_notice(session: AsyncSession, *, notice_id: int, kind: str, items: list[dict[str, Any]],
                       actor: str) -> int:
    """A closed 公示: unstruck items take effect, struck ones stay where they were; households no longer
    waiting for this notice are left alone. Returns how many households changed."""
    action = KIND_ACTION.get(kind)
    if action is None:
        return 0
    _, _, target = RULES[action]
    changed = 0
    for item in items:
        try:
            household_id = int(item["ref"])
        except (KeyError, TypeError, ValueError):
            continue
        household = await repository.awaiting(session, household_id=household_id, notice_id=notice_id,
                                              action=action.value)
        if household is None:
            continue
        cleared = {"pending_action": None, "pending_notice_id": None, "pending_year": None}
        if item.get("struck"):
            await households.update_household(session, household_id=household_id, values=cleared)
            await audit.record(session, actor=actor, action=f"household.{action.value}.struck", entity="household",
                               entity_id=household_id, diff={"notice_id": notice_id})
        else:
            year = household["pending_year"] or this_year()
            await households.update_household(session, household_id=household_id, values={
                **cleared, "status": target.value, YEAR_COLUMN[target]: year, "status_reason": None})
            await repository.record_change(session, household_id=household_id, action=action.value,
                                           from_status=household["status"], to_status=target.value, year=year,
                                           notice_id=notice_id, actor=actor)
            await audit.record(session, actor=actor, action=f"household.{target.value}", entity="household",
                               entity_id=household_id,
                               diff={"from": household["status"], "to": target.value, "year": year,
                                     "notice_id": notice_id})
        changed += 1
    return changed
