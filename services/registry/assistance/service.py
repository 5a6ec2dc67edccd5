"""帮扶 rules: incomes and per-capita net income, assurances, helper assignment (checked with the gateway,
announced through the outbox), measures, visits idempotent on ``client_id``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.assistance import repository
from services.registry.assistance.schemas import (
    AssuranceIn,
    IncomeIn,
    MeasureIn,
    VisitIn,
)
from services.registry.clients import gateway
from services.registry.glossary import ASSURANCES, BATCH_LABELS
from services.registry.households import repository as households
from services.registry.households.scope import Scope
from shared import audit, outbox, regions
from shared.auth import Role
from shared.http import ServiceClient
from shared.money import round_fen, to_fen
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import Conflict, Unprocessable


def per_capita_net_fen(*, wage: int, production: int, transfer: int, property: int, expenses: int,
                       members: int) -> int:
    """(wage + production + transfer + property − expenses) ÷ members, half-up to the fen (ties away from zero).

    Negative when expenses exceed income (a bad harvest): kept as is, it is what the household lived on."""
    net = wage + production + transfer + property - expenses
    return to_fen(round_fen(Decimal(net) / 100 / members))


async def put_income(*, session: AsyncSession, scope: Scope, household: Mapping[str, Any], year: int,
                     income_in: IncomeIn) -> Mapping[str, Any]:
    fen = {k: to_fen(getattr(income_in, k)) for k in ("wage", "production", "transfer", "property", "expenses")}
    members = max(household["member_count"], 1)
    row = await repository.upsert(session, repository.income_t, {
        "household_id": household["id"], "year": year, **{f"{k}_fen": v for k, v in fen.items()},
        "members": members, "per_capita_net_fen": per_capita_net_fen(**fen, members=members),
        "updated_by": scope.actor, "updated_at": datetime.now(UTC)})
    await households.update_household(session, household_id=household["id"], values={})
    await audit.record(session, actor=scope.actor, action="income.put", entity="household",
                       entity_id=household["id"], diff={"year": year, **income_in.model_dump(mode="json"),
                                                        "per_capita_net_fen": row["per_capita_net_fen"]})
    return row


async def put_assurance(*, session: AsyncSession, scope: Scope, household: Mapping[str, Any], year: int,
                        assurance_in: AssuranceIn) -> Mapping[str, Any]:
    row = await repository.upsert(session, repository.assurance_t, {
        "household_id": household["id"], "year": year, **assurance_in.model_dump(), "updated_by": scope.actor,
        "updated_at": datetime.now(UTC)})
    await households.update_household(session, household_id=household["id"], values={})
    await audit.record(session, actor=scope.actor, action="assurance.put", entity="household",
                       entity_id=household["id"], diff={"year": year, **assurance_in.model_dump()})
    return row


def _not_a_helper(msg: str) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", "user_id"], "msg": msg}])


async def assign_helper(*, session: AsyncSession, scope: Scope, services: ServiceClient,
                        household: Mapping[str, Any], user_id: int | None) -> None:
    """Make ``user_id`` (a helper whose region includes the household) its 帮扶责任人, or unassign with None.
    The helper learns of it through a ``helper.assigned`` event (outbox → notifications inbox)."""
    current = household["helper_user_id"]
    if user_id is None:
        if current is None:
            return
        await households.update_household(session, household_id=household["id"],
                                          values={"helper_user_id": None, "helper_assigned_at": None})
        await audit.record(session, actor=scope.actor, action="helper.unassign", entity="household",
                           entity_id=household["id"], diff={"previous": current})
        return
    user = await gateway.user(services, user_id)
    if user is None:
        raise _not_a_helper(f"there is no user {user_id}")
    if user.get("role") != Role.helper.value:
        raise _not_a_helper(f"user {user_id} is not a helper (帮扶责任人)")
    if not user.get("active", True):
        raise _not_a_helper(f"user {user_id} is deactivated")
    try:
        covers = regions.covers(str(user.get("region_code", "")), household["village_code"])
    except ValueError:
        covers = False
    if not covers:
        raise _not_a_helper(f"user {user_id}'s region does not include village {household['village_code']}")
    helper = str(user["id"])
    if helper == current:
        return
    await households.update_household(session, household_id=household["id"],
                                      values={"helper_user_id": helper, "helper_assigned_at": datetime.now(UTC)})
    await audit.record(session, actor=scope.actor, action="helper.assign", entity="household",
                       entity_id=household["id"], diff={"helper_user_id": helper, "previous": current})
    await outbox.emit(session, topic="helper.assigned", to=["notifications"], payload={
        "helper_user_id": helper, "household_id": household["id"], "household_no": household["household_no"],
        "head_name": household["head_name"], "village_name": household["village_name"] or ""})


def measure_body(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**{k: row[k] for k in ("id", "household_id", "batch", "kind", "description", "year", "created_by",
                                   "created_at")}, "batch_label": BATCH_LABELS[row["batch"]]}


async def add_measure(*, session: AsyncSession, scope: Scope, household: Mapping[str, Any],
                      measure_in: MeasureIn) -> Mapping[str, Any]:
    row = await repository.insert_measure(session, {"household_id": household["id"],
                                                    "village_code": household["village_code"],
                                                    "created_by": scope.actor, **measure_in.model_dump(mode="json")})
    await audit.record(session, actor=scope.actor, action="measure.create", entity="household",
                       entity_id=household["id"], diff={"measure_id": row["id"], **measure_in.model_dump(mode="json")})
    return row


def _same_visit(row: Mapping[str, Any], household_id: int, visit_in: VisitIn) -> bool:
    return (row["household_id"] == household_id and row["visited_at"] == visit_in.visited_at
            and row["notes"] == visit_in.notes)


async def add_visit(*, session: AsyncSession, scope: Scope, household: Mapping[str, Any],
                    visit_in: VisitIn) -> tuple[Mapping[str, Any], bool]:
    """Store a visit once per ``client_id``: a retried upload returns the stored visit (created=False); the same
    ``client_id`` with other content is a 409."""
    row = await repository.insert_visit(session, {
        "household_id": household["id"], "client_id": visit_in.client_id, "visited_at": visit_in.visited_at,
        "notes": visit_in.notes, "visitor": scope.actor})
    if row is not None:
        await audit.record(session, actor=scope.actor, action="visit.create", entity="household",
                           entity_id=household["id"], diff={"visit_id": row["id"], **visit_in.model_dump(mode="json")})
        return row, True
    prior = await repository.visit_by_client_id(session, visit_in.client_id)
    if prior is None or not _same_visit(prior, household["id"], visit_in):
        raise Conflict("client_id was already used for another visit", slug="client-id-reused")
    return prior, False


async def _page(session: AsyncSession, table, *, household_id: int, limit: int, cursor: str | None
                ) -> tuple[list[Mapping[str, Any]], str | None]:
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    rows = list(await repository.page(session, table, household_id=household_id, after=after, limit=limit + 1))
    next_cursor = encode_cursor({"id": rows[limit - 1]["id"]}) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def measures_page(*, session: AsyncSession, household_id: int, limit: int, cursor: str | None
                        ) -> tuple[list[Mapping[str, Any]], str | None]:
    """The household's measures, oldest first (the caller already holds the household)."""
    return await _page(session, repository.measure_t, household_id=household_id, limit=limit, cursor=cursor)


async def visits_page(*, session: AsyncSession, household_id: int, limit: int, cursor: str | None
                      ) -> tuple[list[Mapping[str, Any]], str | None]:
    """The household's visits, oldest first (the caller already holds the household)."""
    return await _page(session, repository.visit_t, household_id=household_id, limit=limit, cursor=cursor)


def all_assured(row: Mapping[str, Any] | None) -> list[str]:
    """The assurances not met (all six when none were recorded)."""
    return [k for k in ASSURANCES if row is None or not row[k]]
