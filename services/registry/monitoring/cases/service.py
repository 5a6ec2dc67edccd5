"""监测 case rules: reporting a household, each step of the lifecycle by its role (rules.py holds the tables), the
公示 round trip through funds, and the bodies the API answers. Services flush, never commit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.assistance import repository as assistance
from services.registry.clients import funds
from services.registry.households import repository as households
from services.registry.households.scope import Scope
from services.registry.households.service import lock_visible
from services.registry.monitoring import clock
from services.registry.monitoring.cases import repository, rules
from services.registry.monitoring.reports import repository as reports
from services.registry.monitoring.screenings import repository as screenings
from services.registry.monitoring.cases.glossary import (CASE_STATUS_LABELS, CATEGORY_LABELS, PHASE_LABELS,
                                                         RISK_LABELS, SOURCE_LABELS, STEP_LABELS,
                                                         VERIFY_MISSING_LABELS, CaseStatus, Phase)
from services.registry.monitoring.cases.schemas import CaseCreate, CaseTransitionIn
from shared import audit, outbox
from shared.http import ServiceClient
from shared.pagination import decode_cursor, encode_cursor
from shared.pii import PiiCipher
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable

APPROVED_TOPIC = "monitoring.case_approved"
ELIMINATED_TOPIC = "monitoring.case_eliminated"
REF_PREFIX = "registry/monitoring_case/"


def case_not_found() -> NotFound:
    """Unknown ids and ids outside the caller's region alike."""
    return NotFound("No such monitoring case")


def _check_role(scope: Scope, step: str) -> None:
    if not rules.may_take(scope.role, step):
        raise Forbidden(f"{STEP_LABELS[step]} ({step}) is for {', '.join(rules.roles_of(step))}",
                        step=step, roles=rules.roles_of(step))


def _invalid(field: str, msg: str, **extra: Any) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", field], "msg": msg}], **extra)


# --- bodies -------------------------------------------------------------------------------------------------

def summary_body(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "case_no": row["case_no"], "household_id": row["household_id"],
        "household_no": row["household_no"], "head_name": row["head_name"], "village_code": row["village_code"],
        "village_name": row["village_name"], "category": row["category"],
        "category_label": CATEGORY_LABELS[row["category"]], "risk_types": list(row["risk_types"]),
        "risk_type_labels": [RISK_LABELS[r] for r in row["risk_types"]], "source": row["source"],
        "source_label": SOURCE_LABELS[row["source"]], "description": row["description"], "year": row["year"],
        "status": row["status"], "status_label": CASE_STATUS_LABELS[row["status"]], "phase": row["phase"],
        "phase_label": PHASE_LABELS[row["phase"]], "notice_id": row["notice_id"], "reported_by": row["reported_by"],
        "reported_at": row["reported_at"], "verified_at": row["verified_at"], "approved_at": row["approved_at"],
        "closed_at": row["closed_at"], "version": row["version"]}


def step_body(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "at": row["at"], "actor": row["actor"], "role": row["role"], "action": row["action"],
            "action_label": STEP_LABELS.get(row["action"], row["action"]), "from_status": row["from_status"],
            "to_status": row["to_status"], "notes": row["notes"], "notice_id": row["notice_id"],
            "detail": row["detail"] or {}}


async def read(session: AsyncSession, *, scope: Scope, case_id: int) -> dict[str, Any]:
    row = await repository.get(session, case_id=case_id, scope=scope)
    if row is None:
        raise case_not_found()
    return {**summary_body(row), "history": [step_body(s) for s in await repository.steps(session, case_id)]}


async def list_page(*, session: AsyncSession, scope: Scope, region: str | None, status: str | None,
                    category: str | None, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    if region is not None:
        narrowed = scope.within(region)
        if narrowed is None:
            return [], None
        scope = narrowed
    rows = list(await repository.listed(session, scope=scope, status=status, category=category, after=after,
                                        limit=limit + 1))
    next_cursor = encode_cursor({"id": rows[limit - 1]["id"]}) if len(rows) > limit else None
    return [summary_body(r) for r in rows[:limit]], next_cursor


# --- writes ------------------------------------------------------------------------------------------------

async def _step(session: AsyncSession, *, case: Mapping[str, Any], actor: str, role: str, action: str,
                from_status: str | None, to_status: str, notes: str | None = None, notice_id: int | None = None,
                detail: dict[str, Any] | None = None) -> None:
    """One history row, the audit chain, and a new version of the household (its view shows the case)."""
    await repository.add_step(session, case_id=case["id"], actor=actor, role=role, action=action,
                              from_status=from_status, to_status=to_status, notes=notes or "", notice_id=notice_id,
                              detail=detail or {}, at=clock.now())
    await audit.record(session, actor=actor, action=f"monitoring_case.{action}", entity="monitoring_case",
                       entity_id=case["id"], diff={"case_no": case["case_no"], "household_id": case["household_id"],
                                                   "from": from_status, "to": to_status, "notes": notes,
                                                   "notice_id": notice_id, **(detail or {})})
    await households.update_household(session, household_id=case["household_id"], values={})


async def create(*, session: AsyncSession, scope: Scope, case_in: CaseCreate) -> int:
    _check_role(scope, "report")
    household = await lock_visible(session, scope=scope, household_id=case_in.household_id)
    if not rules.category_fits(case_in.category, household["status"]):
        rule = rules.CATEGORY_RULES[case_in.category]
        raise _invalid("category", f"{rule}; household {household['household_no']} is {household['status']} "
                                   f"({rules.household_status_label(household['status'])})",
                       rule=f"category.{case_in.category.value}", household_status=household["status"])
    open_case = await repository.open_case_of(session, household["id"])
    if open_case is not None:
        raise Conflict(f"household {household['household_no']} already has open case {open_case['case_no']}",
                       slug="open-case-exists", title="An open case exists",
                       open_case={"id": open_case["id"], "case_no": open_case["case_no"],
                                  "status": open_case["status"]})
    origin = await _origin(session, scope=scope, case_in=case_in, household_id=household["id"])
    case_id = await repository.next_id(session)
    case_no = f"JC{case_in.year}{case_id:07d}"
    values = {"id": case_id, "case_no": case_no, "household_id": household["id"],
              "village_code": household["village_code"], "category": case_in.category.value,
              "risk_types": [r.value for r in case_in.risk_types], "source": case_in.source.value,
              "description": case_in.description, "year": case_in.year, "status": CaseStatus.reported.value,
              "phase": Phase.inclusion.value, "reported_by": scope.actor, "reported_at": clock.now()}
    await repository.insert_case(session, values)
    await _step(session, case={"id": case_id, "case_no": case_no, "household_id": household["id"]},
                actor=scope.actor, role=scope.role, action="report", from_status=None, to_status="reported",
                notes=case_in.description or None,
                detail={"category": values["category"], "risk_types": values["risk_types"], "source": values["source"],
                        "year": case_in.year, **origin})
    if case_in.report_id is not None:
        await reports.mark_case_opened(session, report_id=case_in.report_id, case_id=case_id)
    if case_in.warning_id is not None:
        await screenings.mark_case_opened(session, warning_id=case_in.warning_id, case_id=case_id)
    return case_id


async def _origin(session: AsyncSession, *, scope: Scope, case_in: CaseCreate, household_id: int) -> dict[str, Any]:
    """The open report or warning the case is opened from (locked), checked against the household; {} for none."""
    if case_in.report_id is not None:
        report = await reports.get(session, scope=scope, report_id=case_in.report_id, lock=True)
        if report is None:
            raise NotFound("no such report in your region", report_id=case_in.report_id)
        if report["status"] != "open":
            raise Conflict(f"report {report['id']} is {report['status']} already", slug="report-not-open",
                           title="The report is not open")
        if report["household_id"] is not None and report["household_id"] != household_id:
            raise _invalid("report_id", f"report {report['id']} is matched to another household")
        return {"report_id": report["id"]}
    if case_in.warning_id is not None:
        warning = await screenings.warning(session, scope=scope, warning_id=case_in.warning_id, lock=True)
        if warning is None:
            raise NotFound("no such warning in your region", warning_id=case_in.warning_id)
        if warning["status"] != "open":
            raise Conflict(f"warning {warning['id']} is {warning['status']} already", slug="warning-not-open",
                           title="The warning is not open")
        if warning["household_id"] != household_id:
            raise _invalid("warning_id", f"warning {warning['id']} is about another household")
        return {"warning_id": warning["id"], "rule": warning["rule"]}
    return {}


async def _verify_missing(session: AsyncSession, case: Mapping[str, Any]) -> list[str]:
    missing = []
    if await assistance.income(session, household_id=case["household_id"], year=case["year"]) is None:
        missing.append("income")
    if await assistance.assurance(session, household_id=case["household_id"], year=case["year"]) is None:
        missing.append("assurance")
    return missing


async def _notice_items(session: AsyncSession, cipher: PiiCipher, case: Mapping[str, Any]) -> list[dict[str, Any]]:
    head = await repository.head_of(session, case["household_id"])
    return [{"ref": str(case["household_id"]), "name": case["head_name"],
             "id_number": cipher.decrypt(bytes(head["id_enc"]), field="id_number") if head else None,
             "phone": cipher.decrypt_opt(case["phone_enc"] and bytes(case["phone_enc"]), field="phone"),
             "household_no": case["household_no"], "village": case["village_name"] or case["village_code"],
             "members": case["member_count"], "case_no": case["case_no"], "category": case["category"],
             "category_label": CATEGORY_LABELS[case["category"]], "risk_types": list(case["risk_types"]),
             "risk_type_labels": [RISK_LABELS[r] for r in case["risk_types"]]}]


async def _open_notice(session: AsyncSession, *, services: ServiceClient, cipher: PiiCipher,
                       case: Mapping[str, Any], phase: Phase, days: int | None) -> int:
    village = case["village_name"] or case["village_code"]
    what = "防返贫监测对象识别纳入" if phase is Phase.inclusion else "防返贫监测对象风险消除"
    notice = await funds.open_notice(
        services, kind="monitoring", region_code=case["village_code"], region_name=case["village_name"],
        title=f"{village}{case['year']}年度{what}公示（{case['household_no']} {case['head_name']}户）",
        requester_ref=f"{REF_PREFIX}{case['id']}/{phase.value}/v{case['version']}",
        items=await _notice_items(session, cipher, case), days=days)
    return int(notice["id"])


async def transition(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, services: ServiceClient,
                     case_id: int, transition_in: CaseTransitionIn) -> None:
    case = await repository.get(session, case_id=case_id, scope=scope, for_update=True)
    if case is None:
        raise case_not_found()
    action = transition_in.action.value
    _check_role(scope, action)
    status, phase = case["status"], case["phase"]
    target = rules.MOVES.get((action, status, phase))
    if target is None:
        raise Conflict(f"cannot {action} a case that is {status} ({CASE_STATUS_LABELS[status]})",
                       slug="illegal-transition", status_now=status, phase=phase, action=action)
    notes = transition_in.notes or None
    values: dict[str, Any] = {"status": target}
    detail: dict[str, Any] = {}
    notice_id = None
    now = clock.now()
    if action == "reject":
        if not notes:
            raise _invalid("notes", "reject needs notes saying why")
        values |= {"notice_id": None, "closed_at": now}
        detail = {"cancelled_notice": case["notice_id"]} if case["notice_id"] else {}
    elif action == "verify":
        missing = await _verify_missing(session, case)
        if missing:
            raise Conflict(f"record the household's {case['year']} "
                           + " and ".join(missing) + " before verifying: "
                           + "、".join(VERIFY_MISSING_LABELS[m] for m in missing),
                           slug="verification-incomplete", title="Verification incomplete", year=case["year"],
                           missing=rules.labelled(missing, VERIFY_MISSING_LABELS))
        values["verified_at"] = now
    elif action == "approve":
        if case["notice_id"] is not None:
            raise Conflict(f"the 公示 (notice {case['notice_id']}) has not closed yet", slug="notice-open",
                           notice_id=case["notice_id"])
        values["approved_at" if target == CaseStatus.approved else "closed_at"] = now
    else:                                   # publicize, propose_elimination: a 公示 first
        new_phase = Phase.inclusion if action == "publicize" else Phase.elimination
        if action == "propose_elimination":
            year = transition_in.year or case["year"]
            unmet = await rules.elimination_unmet(session, case, year=year)
            if unmet:
                listed = rules.labelled(unmet)
                raise Conflict("the case does not meet the conditions of 风险消除 for " + str(year) + ": "
                               + "、".join(u["label"] for u in listed), slug="elimination-conditions-unmet",
                               title="Elimination conditions not met", unmet=listed, year=year)
            detail["year"] = year
        notice_id = await _open_notice(session, services=services, cipher=cipher, case=case, phase=new_phase,
                                       days=transition_in.days)
        values |= {"notice_id": notice_id, "phase": new_phase.value}
        detail |= {"phase": new_phase.value, "days": transition_in.days}
    await repository.update_case(session, case_id=case["id"], values=values)
    await _step(session, case=case, actor=scope.actor, role=scope.role, action=action, from_status=status,
                to_status=target, notes=notes, notice_id=notice_id, detail=detail)
    if target in (CaseStatus.approved, CaseStatus.eliminated):
        await _announce(session, cipher=cipher, case=case, target=target)


async def _announce(session: AsyncSession, *, cipher: PiiCipher, case: Mapping[str, Any], target: str) -> None:
    """Notifications hears of an approval (the helper's inbox, the head's SMS) or an elimination (the helper)."""
    payload = {"case_id": case["id"], "case_no": case["case_no"], "household_id": case["household_id"],
               "household_no": case["household_no"], "head_name": case["head_name"],
               "village_name": case["village_name"] or "", "region_code": case["village_code"],
               "helper_user_id": case["helper_user_id"]}
    if target == CaseStatus.approved:
        payload["head_phone"] = cipher.decrypt_opt(case["phone_enc"] and bytes(case["phone_enc"]), field="phone")
    await outbox.emit(session, topic=APPROVED_TOPIC if target == CaseStatus.approved else ELIMINATED_TOPIC,
                      to=["notifications"], payload=payload)


async def apply_notice(session: AsyncSession, *, payload: Mapping[str, Any], actor: str) -> bool:
    """A closed 公示 of a case (``notice.closed``, routed here by its requester_ref): with no upheld objection the
    case may be approved; an upheld objection (or a withdrawn notice) sends it back (inclusion → verified,
    elimination → approved) with the objections in its history. A case no longer waiting for this notice is
    left alone. Returns whether the case changed."""
    try:
        case_id = int(str(payload["requester_ref"]).removeprefix(REF_PREFIX).split("/")[0])
        notice_id = int(payload["notice_id"])
    except (KeyError, TypeError, ValueError):
        return False
    case = await repository.get_by_id(session, case_id, for_update=True)
    if case is None or case["notice_id"] != notice_id or case["status"] != CaseStatus.publicized:
        return False
    items = [i for i in payload.get("items") or [] if isinstance(i, dict)]
    withdrawn = payload.get("outcome") == "withdrawn"
    struck = withdrawn or any(i.get("struck") for i in items)
    objections = [o for o in payload.get("objections") or [] if isinstance(o, dict)]
    detail = {"outcome": payload.get("outcome") or "closed", "objections": objections}
    if payload.get("reason"):
        detail["reason"] = payload["reason"]
    if struck:
        back = rules.BACK[Phase(case["phase"])]
        await repository.update_case(session, case_id=case_id, values={"status": back, "notice_id": None})
        notes = "；".join(str(o.get("content", "")) for o in objections) or payload.get("reason") or None
        await _step(session, case=case, actor=actor, role="service", action="objection_upheld",
                    from_status=case["status"], to_status=back, notes=notes, notice_id=notice_id, detail=detail)
    else:
        await repository.update_case(session, case_id=case_id, values={"notice_id": None})
        await _step(session, case=case, actor=actor, role="service", action="notice_closed",
                    from_status=case["status"], to_status=case["status"], notice_id=notice_id, detail=detail)
    return True
