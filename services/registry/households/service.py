"""Household rules: one head, one household per person in the whole registry, numbering, scoped access, PII.

Services only flush; the request's session commits. Every write appends to the audit chain (with ID numbers
masked: the chain is plaintext)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.glossary import Relation, Status
from services.registry.households import repository, views
from services.registry.households.schemas import (
    MAX_MEMBERS,
    NULLABLE_HOUSEHOLD,
    NULLABLE_MEMBER,
    EligibilityQuery,
    HouseholdCreate,
    HouseholdUpdate,
    MemberIn,
    MemberUpdate,
    PayoutAccount,
)
from services.registry.households.scope import Scope, bounds, household_not_found
from shared import audit, idnumber
from shared.idnumber import mask, mask_phone
from shared.pagination import decode_cursor, encode_cursor
from shared.pii import PiiCipher, mask_account
from shared.problems import Conflict, NotFound, Unprocessable

ID_FIELD = "id_number"
UNIQUE_PERSON = "uq_member_id_hmac"


def person_digest(cipher: PiiCipher, id_number: str) -> bytes:
    """The keyed digest every registry lookup of a person uses (importers too)."""
    return cipher.digest(id_number, field=ID_FIELD)


def member_values(cipher: PiiCipher, m: MemberIn, household_id: int) -> dict[str, Any]:
    """The member row for ``m`` (encrypted ID number, digest, mask, sex and birth date derived from it)."""
    idn = m.id_number
    return {"household_id": household_id, "name": m.name, "id_hmac": person_digest(cipher, idn),
            "id_enc": cipher.encrypt(idn, field=ID_FIELD), "id_masked": mask(idn), "sex": idnumber.sex(idn),
            "birth_date": idnumber.birth_date(idn), "relation": m.relation.value, "health": m.health.value,
            "labor": m.labor.value, "education": m.education.value if m.education else None,
            "in_school": m.in_school, "migrant_worker": m.migrant_worker}


def phone_values(cipher: PiiCipher, phone: str | None) -> dict[str, Any]:
    return {"phone_enc": cipher.encrypt_opt(phone, field="phone"), "phone_masked": mask_phone(phone)}


def account_values(cipher: PiiCipher, account: PayoutAccount | None) -> dict[str, Any]:
    if account is None:
        return {"payout_bank_code": None, "payout_account_enc": None, "payout_account_masked": None}
    return {"payout_bank_code": account.bank_code,
            "payout_account_enc": cipher.encrypt(account.account_no, field="payout_account"),
            "payout_account_masked": mask_account(account.account_no)}


def constraint_of(exc: IntegrityError) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if name:
            return name
    return None


def already_registered(holder: Mapping[str, Any] | None) -> Conflict:
    if holder is None:
        return Conflict("This person is already registered in another household", slug="already-registered")
    return Conflict(f"{holder['id_masked']} is already registered in household {holder['household_no']}",
                    zh=f"身份证号 {holder['id_masked']} 已在户 {holder['household_no']} 登记，一人只能在一户",
                    slug="already-registered", title="Person already registered", title_zh="此人已登记在册",
                    household_id=holder["household_id"], household_no=holder["household_no"],
                    member_id=holder["member_id"], id_number=holder["id_masked"])


def invalid(field: str, msg: str, *loc: str | int) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", *(loc or (field,))], "msg": msg}])


async def _insert_members(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert members under a savepoint: a person registered concurrently elsewhere is a 409 naming the holder."""
    try:
        async with session.begin_nested():
            return await repository.insert_members(session, rows)
    except IntegrityError as exc:
        if constraint_of(exc) != UNIQUE_PERSON:
            raise
        raise already_registered(await repository.holder(session, [r["id_hmac"] for r in rows])) from None


# --- households -----------------------------------------------------------------------------------------------

async def check_village(session: AsyncSession, *, scope: Scope, code: str) -> Mapping[str, Any]:
    village = await repository.village(session, code)
    if village is None or village["level"] != "village" or not scope.covers(code):
        raise invalid("village_code", f"{code} is not a village in your region")
    return village


async def create(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, household_in: HouseholdCreate) -> int:
    """Store a new household as ``pending`` (or ``ordinary``, for monitoring only); returns its id."""
    await check_village(session, scope=scope, code=household_in.village_code)
    rows = [member_values(cipher, m, 0) for m in household_in.members]
    digests = [r["id_hmac"] for r in rows]
    if (found := await repository.holder(session, digests)) is not None:
        raise already_registered(found)
    [household_no] = await repository.allocate_household_nos(session, village_code=household_in.village_code)
    head = next(m for m in household_in.members if m.relation is Relation.head)
    household_id = await repository.insert_household(session, {
        "household_no": household_no, "village_code": household_in.village_code, "address": household_in.address,
        **phone_values(cipher, household_in.phone), "attribute": household_in.attribute.value,
        "main_cause": household_in.main_cause.value,
        "other_causes": [c.value for c in household_in.other_causes if c != household_in.main_cause],
        "identified_year": household_in.identified_year, **account_values(cipher, household_in.payout_account),
        "status": household_in.status, "head_name": head.name, "member_count": len(rows),
        "created_by": scope.actor})
    for r in rows:
        r["household_id"] = household_id
    await _insert_members(session, rows)
    diff = household_in.model_dump(mode="json", exclude={"members", "phone", "payout_account"})
    diff.update(household_no=household_no, phone=mask_phone(household_in.phone),
                members=[{"name": m.name, "id_number": mask(m.id_number), "relation": m.relation.value}
                         for m in household_in.members])
    await audit.record(session, actor=scope.actor, action="household.create", entity="household",
                       entity_id=household_id, diff=diff)
    return household_id


async def view(session: AsyncSession, *, scope: Scope, cipher: PiiCipher, household_id: int, endpoint: str
               ) -> dict[str, Any]:
    """The household as the caller may see it (logged when shown in full); 404 outside their scope."""
    row = await repository.fetch_view(session, household_id=household_id, scope=scope, endpoint=endpoint)
    if row is None:
        raise household_not_found()
    return views.household_body(row, cipher=cipher, full=scope.full_pii)


async def view_pooled(pool: asyncpg.Pool, *, scope: Scope, cipher: PiiCipher, household_id: int, endpoint: str
                      ) -> dict[str, Any]:
    row = await repository.fetch_view_pooled(pool, household_id=household_id, scope=scope, endpoint=endpoint)
    if row is None:
        raise household_not_found()
    return views.household_body(row, cipher=cipher, full=scope.full_pii)


async def lock_visible(session: AsyncSession, *, scope: Scope, household_id: int, for_update: bool = True
                       ) -> Mapping[str, Any]:
    """The household row in the caller's scope, locked for the transaction; 404 otherwise."""
    row = await repository.lock(session, household_id=household_id, scope=scope, for_update=for_update)
    if row is None:
        raise household_not_found()
    return row


async def update(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, household: Mapping[str, Any],
                 household_in: HouseholdUpdate) -> int:
    sent = household_in.model_fields_set
    for name in sent - NULLABLE_HOUSEHOLD:
        if getattr(household_in, name) is None:
            raise invalid(name, f"{name} cannot be null")
    values: dict[str, Any] = {}
    diff: dict[str, Any] = {}
    for name in ("address", "identified_year"):
        if name in sent:
            values[name] = diff[name] = getattr(household_in, name)
    for name in ("attribute", "main_cause"):
        if name in sent:
            values[name] = diff[name] = getattr(household_in, name).value
    main = values.get("main_cause", household["main_cause"])
    if "other_causes" in sent:
        values["other_causes"] = diff["other_causes"] = [c.value for c in household_in.other_causes if c != main]
    elif "main_cause" in sent:
        values["other_causes"] = [c for c in household["other_causes"] if c != main]
    if "phone" in sent:
        values.update(phone_values(cipher, household_in.phone))
        diff["phone"] = mask_phone(household_in.phone)
    if "payout_account" in sent:
        values.update(account_values(cipher, household_in.payout_account))
        diff["payout_account"] = (None if household_in.payout_account is None else
                                  {"bank_code": household_in.payout_account.bank_code,
                                   "account_no": mask_account(household_in.payout_account.account_no)})
    if not values:
        return household["version"]
    version = await repository.update_household(session, household_id=household["id"], values=values)
    await audit.record(session, actor=scope.actor, action="household.update", entity="household",
                       entity_id=household["id"], diff=diff)
    return version


async def list_page(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, region: str | None,
                    status: str | None, attribute: str | None, cause: str | None, q: str | None, limit: int,
                    cursor: str | None, endpoint: str) -> tuple[list[dict[str, Any]], str | None]:
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    if region is not None:
        narrowed = scope.within(region)
        if narrowed is None:
            return [], None
        scope = narrowed
    digest = name_prefix = household_no = None
    if q is not None and (q := q.strip()):
        name_prefix = q
        try:
            digest = person_digest(cipher, idnumber.normalize(q))
        except ValueError:
            pass
        if q.isascii() and q.isdigit() and 13 <= len(q) <= 20:
            household_no = q
    rows = await repository.list_households(session, scope=scope, after=after, limit=limit + 1, status=status,
                                            attribute=attribute, cause=cause, digest=digest,
                                            name_prefix=name_prefix, household_no=household_no)
    next_cursor = encode_cursor({"id": rows[limit - 1]["id"]}) if len(rows) > limit else None
    rows = rows[:limit]
    if scope.full_pii:
        await repository.log_access(session, scope=scope, endpoint=endpoint, household_ids=[r["id"] for r in rows])
    return [views.summary_body(r, cipher=cipher, full=scope.full_pii) for r in rows], next_cursor


async def find_person(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, id_number: str
                      ) -> Mapping[str, Any]:
    try:
        normalized = idnumber.normalize(id_number)
    except ValueError as exc:
        raise Unprocessable(str(exc), errors=[{"loc": ["path", "id_number"], "msg": str(exc)}]) from None
    found = await repository.person(session, scope=scope, digest=person_digest(cipher, normalized))
    if found is None:
        raise NotFound("No such person")
    return found


# --- members --------------------------------------------------------------------------------------------------

def _member_diff(values: Mapping[str, Any]) -> dict[str, Any]:
    diff = {k: v for k, v in values.items() if k not in ("id_hmac", "id_enc", "household_id", "birth_date")}
    return diff


async def add_member(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, household: Mapping[str, Any],
                     member_in: MemberIn) -> int:
    if member_in.relation is Relation.head:
        raise invalid("relation", 'the household already has a head: exactly one member has relation "head"')
    if household["member_count"] >= MAX_MEMBERS:
        raise invalid("members", f"a household has at most {MAX_MEMBERS} members")
    row = member_values(cipher, member_in, household["id"])
    if (found := await repository.holder(session, [row["id_hmac"]])) is not None:
        raise already_registered(found)
    [member_id] = await _insert_members(session, [row])
    await repository.update_household(session, household_id=household["id"],
                                      values={"member_count": household["member_count"] + 1})
    await audit.record(session, actor=scope.actor, action="member.create", entity="household",
                       entity_id=household["id"], diff={"member_id": member_id, **_member_diff(row)})
    return member_id


async def member_of(session: AsyncSession, *, household: Mapping[str, Any], member_id: int) -> Mapping[str, Any]:
    row = await repository.member(session, household_id=household["id"], member_id=member_id)
    if row is None:
        raise NotFound("No such member")
    return row


async def update_member(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, household: Mapping[str, Any],
                        member: Mapping[str, Any], member_in: MemberUpdate) -> Mapping[str, Any]:
    sent = member_in.model_fields_set
    for name in sent - NULLABLE_MEMBER:
        if getattr(member_in, name) is None:
            raise invalid(name, f"{name} cannot be null")
    values: dict[str, Any] = {}
    for name in ("name", "in_school", "migrant_worker"):
        if name in sent:
            values[name] = getattr(member_in, name)
    for name in ("relation", "health", "labor", "education"):
        if name in sent:
            value = getattr(member_in, name)
            values[name] = value.value if value is not None else None
    if "relation" in values and (values["relation"] == "head") != (member["relation"] == "head"):
        raise invalid("relation", 'a household has exactly one head: this change would leave it with '
                      + ("none" if member["relation"] == "head" else "two"))
    if "id_number" in sent and member_in.id_number is not None:
        idn = member_in.id_number
        digest = person_digest(cipher, idn)
        if digest != bytes(member["id_hmac"]):
            if (found := await repository.holder(session, [digest])) is not None:
                raise already_registered(found)
            values.update(id_hmac=digest, id_enc=cipher.encrypt(idn, field=ID_FIELD), id_masked=mask(idn),
                          sex=idnumber.sex(idn), birth_date=idnumber.birth_date(idn))
    if not values:
        return member
    try:
        async with session.begin_nested():
            updated = await repository.update_member(session, member_id=member["id"], values=values)
    except IntegrityError as exc:
        if constraint_of(exc) != UNIQUE_PERSON:
            raise
        raise already_registered(await repository.holder(session, [values["id_hmac"]])) from None
    household_values: dict[str, Any] = {}
    if updated["relation"] == "head" and "name" in values:
        household_values["head_name"] = values["name"]
    await repository.update_household(session, household_id=household["id"], values=household_values)
    await audit.record(session, actor=scope.actor, action="member.update", entity="household",
                       entity_id=household["id"], diff={"member_id": member["id"], **_member_diff(values)})
    return updated


async def delete_member(*, session: AsyncSession, scope: Scope, household: Mapping[str, Any],
                        member: Mapping[str, Any]) -> None:
    if member["relation"] == "head":
        raise Unprocessable('the head cannot be removed: a household has exactly one head',
                            errors=[{"loc": ["path", "member_id"], "msg": "this member is the head"}])
    await repository.delete_member(session, member_id=member["id"])
    await repository.update_household(session, household_id=household["id"],
                                      values={"member_count": household["member_count"] - 1})
    await audit.record(session, actor=scope.actor, action="member.delete", entity="household",
                       entity_id=household["id"],
                       diff={"member_id": member["id"], "name": member["name"], "id_number": member["id_masked"]})


def member_body(member: Mapping[str, Any], *, cipher: PiiCipher, scope: Scope) -> dict[str, Any]:
    return views.member_body(member, household_id=member["household_id"], cipher=cipher, full=scope.full_pii,
                             today=datetime.now(UTC).date())


async def member_shown(session: AsyncSession, *, scope: Scope, cipher: PiiCipher, member: Mapping[str, Any],
                       endpoint: str) -> dict[str, Any]:
    """The member's body as the caller may see it; a full view is recorded in the PII access log."""
    if scope.full_pii:
        await repository.log_access(session, scope=scope, endpoint=endpoint, household_ids=[member["household_id"]])
    return member_body(member, cipher=cipher, scope=scope)


async def member_view(session: AsyncSession, *, scope: Scope, cipher: PiiCipher, household_id: int, member_id: int,
                      endpoint: str) -> dict[str, Any]:
    """A member of ``household_id`` (the caller already holds the household), as ``member_shown``; 404 otherwise."""
    member = await repository.member_by_id(session, member_id)
    if member is None or member["household_id"] != household_id:
        raise NotFound("No such member")
    return await member_shown(session, scope=scope, cipher=cipher, member=member, endpoint=endpoint)


# --- internal: eligibility of many households for a payment batch ----------------------------------------------

INELIGIBLE_STATUSES = {Status.pending.value: "status_pending", Status.removed.value: "status_removed"}


async def eligibility(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, query: EligibilityQuery,
                      endpoint: str) -> list[dict[str, Any]]:
    """One answer per requested id (in order): found, in the region, payable (not pending or removed)."""
    rows = {r["id"]: r for r in await repository.eligibility_rows(session, sorted(set(query.household_ids)))}
    lo, hi = bounds(query.region_code)
    items = []
    for hid in query.household_ids:
        row = rows.get(hid)
        if row is None:
            items.append({"household_id": hid, "exists": False, "eligible": False, "reasons": ["not_found"]})
            continue
        in_region = lo <= row["village_code"] <= hi
        reasons = [] if in_region else ["outside_region"]
        if row["status"] in INELIGIBLE_STATUSES:
            reasons.append(INELIGIBLE_STATUSES[row["status"]])
        account = views.payout_account(cipher, row, True)
        if account is not None:
            account["account_no_masked"] = row["payout_account_masked"]
        items.append({
            "household_id": hid, "exists": True, "eligible": not reasons, "reasons": reasons,
            "status": row["status"], "status_label": views.g.STATUS_LABELS[row["status"]],
            "village_code": row["village_code"], "in_region": in_region, "household_no": row["household_no"],
            "head_name": row["head_name"],
            "head_id_number": views.id_number(cipher, row["head_id_enc"], row["head_id_masked"], True)
            if row["head_id_enc"] is not None else None,
            "head_id_number_masked": row["head_id_masked"],
            "phone": views.phone(cipher, row["phone_enc"], row["phone_masked"], True),
            "phone_masked": row["phone_masked"], "payout_account_present": account is not None,
            "payout_account": account})
    await repository.log_access(session, scope=scope, endpoint=endpoint, household_ids=sorted(rows))
    return items
