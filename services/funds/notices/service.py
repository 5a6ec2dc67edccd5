"""公示 rules: opening a notice, objections while it runs, resolving them, closing or withdrawing it.

Closing (or withdrawing) hands the outcome back to the service that asked for the notice, through the
outbox, in the same transaction: topic ``notice.closed`` to ``[requester]`` with

    {"notice_id", "kind", "requester_ref", "region_code", "content_hash",
     "outcome": "closed" | "withdrawn", "reason": str | null,
     "items": [{"ref", "struck": bool}]}

and, for a ``monitoring`` notice, ``"objections": [{"id", "content", "reply", "item_refs", "resolved_at"}]``: the
upheld ones, without the objector's name or phone.

Items are rows of ``notice_item`` (a batch of 100,000 households is one notice), read page by page.

An item is struck when an upheld objection named it; a withdrawn notice strikes every item (the
announced action does not take effect). Every step is appended to the funds audit chain.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.funds.notices import repository
from services.funds.notices.content import content_hash, mask_phone, publish_value, scrub, timestamp
from services.funds.notices.glossary import KIND_LABELS, OBJECTION_LABELS, STATUS_LABELS
from services.funds.notices.models import Notice, Objection
from services.funds.notices.ratelimit import ObjectionLimiter
from services.funds.notices.schemas import (NoticeItemIn, NoticeOpen, NoticeOpened, NoticePublic, NoticeRead,
                                            NoticeSummary, ObjectionCounts, ObjectionCreate, ObjectionRead,
                                            ObjectionResolve)
from shared import audit, outbox
from shared.auth import Principal
from shared.idnumber import mask
from shared.money import format_money
from shared.pagination import decode_cursor, page
from shared.problems import Conflict, NotFound, Unprocessable

log = logging.getLogger("jingzhun.funds.notices")

CLOSED_TOPIC = "notice.closed"
ITEMS_PAGE = 500        # items per page of a notice, by default
# kinds whose 公示 may be shorter than JINGZHUN_NOTICE_MIN_DAYS: a monitoring step's runs at least 5 days, unless
# the setting is lower still (CONTRACT §11); this is also its default length
KIND_MIN_DAYS = {"monitoring": 5}


def min_days_for(kind: str, min_days: int) -> int:
    return min(KIND_MIN_DAYS.get(kind, min_days), min_days)


def now() -> datetime:
    """The service's clock (tests move it forward)."""
    return datetime.now(UTC)


# --- what is published ---------------------------------------------------------------------------

def publish_item(item: NoticeItemIn) -> dict[str, Any]:
    """The frozen public copy of an item: ID number and phone masked, amount as a money string."""
    out: dict[str, Any] = {"ref": item.ref, "name": scrub(item.name)}
    if item.id_number:
        out["id_number"] = mask(item.id_number)
    if item.phone:
        out["phone"] = mask_phone(item.phone)
    if item.amount is not None:
        out["amount"] = format_money(item.amount)
    for key, value in (item.model_extra or {}).items():
        out[key] = publish_value(key, value)
    return out


def public_content(*, kind: str, region_code: str, title: str, starts_at: datetime, ends_at: datetime,
                   items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "region_code": region_code, "title": title, "starts_at": timestamp(starts_at),
            "ends_at": timestamp(ends_at), "items": items}


def accepting_objections(notice: Notice, at: datetime | None = None) -> bool:
    at = at or now()
    return notice.status == "open" and notice.starts_at <= at < notice.ends_at


def to_summary(notice: Notice) -> NoticeSummary:
    return NoticeSummary(id=notice.id, kind=notice.kind, kind_label=KIND_LABELS[notice.kind],
                         region_code=notice.region_code, region_name=notice.region_name, title=notice.title,
                         starts_at=timestamp(notice.starts_at), ends_at=timestamp(notice.ends_at),
                         status=notice.status, status_label=STATUS_LABELS[notice.status],
                         item_count=notice.item_count, content_hash=notice.content_hash)


class ItemsPage:
    """One page of a notice's items: the items as published, the seq of the first, the cursor to the next."""

    def __init__(self, items: list[dict[str, Any]], first_seq: int, next_cursor: str | None) -> None:
        self.items, self.first_seq, self.next_cursor = items, first_seq, next_cursor


async def items_page(*, session: AsyncSession, notice: Notice, limit: int = ITEMS_PAGE, cursor: str | None = None
                     ) -> ItemsPage:
    after = (decode_cursor(cursor, seq=int) or {"seq": 0})["seq"]
    rows, next_cursor = page(await repository.items_page(session, notice.id, after_seq=after, limit=limit), limit,
                             lambda row: {"seq": row[0]})
    return ItemsPage([item for _, item in rows], rows[0][0] if rows else after + 1, next_cursor)


def _public_fields(notice: Notice, counts: dict[str, int], items: ItemsPage) -> dict[str, Any]:
    return dict(to_summary(notice).model_dump(), items=items.items, items_next_cursor=items.next_cursor,
                amount_total=notice.amount_total,
                objections=ObjectionCounts(received=sum(counts.values()), **counts),
                accepting_objections=accepting_objections(notice),
                closed_at=timestamp(notice.closed_at) if notice.closed_at else None,
                struck_refs=notice.struck_refs, withdraw_reason=notice.withdraw_reason)


def to_public(notice: Notice, counts: dict[str, int], items: ItemsPage) -> NoticePublic:
    return NoticePublic(**_public_fields(notice, counts, items))


def to_read(notice: Notice, counts: dict[str, int], items: ItemsPage) -> NoticeRead:
    return NoticeRead(**_public_fields(notice, counts, items), requester=notice.requester,
                      requester_ref=notice.requester_ref, opened_by=notice.opened_by, closed_by=notice.closed_by,
                      version=notice.version)


def to_opened(notice: Notice) -> NoticeOpened:
    return NoticeOpened(id=notice.id, kind=notice.kind, region_code=notice.region_code, title=notice.title,
                        starts_at=timestamp(notice.starts_at), ends_at=timestamp(notice.ends_at),
                        content_hash=notice.content_hash, status=notice.status)


# --- opening -------------------------------------------------------------------------------------

async def open_notice(*, session: AsyncSession, notice_in: NoticeOpen, actor: str, min_days: int,
                      region_name: str | None = None) -> tuple[Notice, bool]:
    """Open a notice; returns it and whether it is new.

    The same request again (same requester, requester_ref and content) while the first is open returns
    the first notice; a different one for the same requested action is 409.
    """
    return await open_published(
        session=session, kind=notice_in.kind, region_code=notice_in.region_code, title=notice_in.title,
        requester=notice_in.requester, requester_ref=notice_in.requester_ref, days=notice_in.days,
        region_name=notice_in.region_name or region_name, items=[publish_item(i) for i in notice_in.items],
        amount_total=_amount_total(notice_in), actor=actor, min_days=min_days)


async def open_published(*, session: AsyncSession, kind: str, region_code: str, title: str, requester: str,
                         requester_ref: str, days: int | None, region_name: str | None, items: list[dict[str, Any]],
                         amount_total: Decimal | None, actor: str, min_days: int) -> tuple[Notice, bool]:
    """:func:`open_notice` for items already in their public form (:func:`publish_item`'s): funds' own batches
    of up to 100,000 households, masked from what the batch keeps."""
    min_days = min_days_for(kind, min_days)
    days = min_days if days is None else days
    if days < min_days:
        msg = f"a notice runs at least {min_days} days"
        raise Unprocessable(msg, errors=[{"loc": ["body", "days"], "msg": msg}])
    title = scrub(title)
    existing = await repository.open_for(session, requester=requester, requester_ref=requester_ref)
    if existing is not None:
        if (existing.kind, existing.region_code, existing.title, existing.item_count) == (
                kind, region_code, title, len(items)) and await repository.all_items(session, existing.id) == items:
            return existing, False
        raise Conflict(f"notice {existing.id} is already open for {requester_ref}",
                       slug="notice-already-open", notice_id=existing.id)
    starts = now().replace(microsecond=0)
    ends = starts + timedelta(days=days)
    content = public_content(kind=kind, region_code=region_code, title=title, starts_at=starts, ends_at=ends,
                             items=items)
    notice = Notice(kind=kind, region_code=region_code, region_name=region_name, title=title, requester=requester,
                    requester_ref=requester_ref, item_count=len(items), amount_total=amount_total, starts_at=starts,
                    ends_at=ends, content_hash=content_hash(content), status="open", opened_by=actor,
                    created_at=starts)
    session.add(notice)
    await session.flush()
    await repository.add_items(session, notice.id, items)
    await audit.record(session, actor=actor, action="notice.open", entity="notice", entity_id=notice.id,
                       diff={"kind": notice.kind, "region_code": notice.region_code, "title": title,
                             "requester": notice.requester, "requester_ref": notice.requester_ref,
                             "item_count": notice.item_count, "starts_at": content["starts_at"],
                             "ends_at": content["ends_at"], "content_hash": notice.content_hash})
    return notice, True


def _amount_total(notice_in: NoticeOpen) -> Decimal | None:
    amounts = [i.amount for i in notice_in.items if i.amount is not None]
    return sum(amounts, Decimal(0)) if amounts else None


async def lookup_region_name(*, services, region_code: str) -> str | None:
    """The region's name from the registry, for the page; None when the registry does not answer soon."""
    try:
        answer = await asyncio.wait_for(services.request("GET", "registry", f"/api/v1/regions/{region_code}"), 3)
        name = answer.get("name") if isinstance(answer, dict) else None
        return name[:64] if isinstance(name, str) else None
    except Exception as exc:  # the name is a nicety: never fail an opening over it
        log.info("region name for %s unavailable: %s", region_code, exc)
        return None


# --- reading -------------------------------------------------------------------------------------

async def get_public(*, session: AsyncSession, notice_id: int) -> Notice:
    notice = await repository.get(session, notice_id)
    if notice is None:
        raise NotFound("No such notice")
    return notice


async def get_for(*, session: AsyncSession, principal: Principal, notice_id: int, lock: str | None = None) -> Notice:
    """The notice when it lies in the caller's region, else 404 (existence is not leaked)."""
    notice = await repository.get(session, notice_id, lock=lock, principal=principal)
    if notice is None:
        raise NotFound("No such notice")
    return notice


async def counts(*, session: AsyncSession, notice: Notice) -> dict[str, int]:
    return await repository.objection_counts(session, notice.id)


def _before_id(cursor: str | None) -> int | None:
    key = decode_cursor(cursor, id=int)
    return None if key is None else key["id"]


async def list_public(*, session: AsyncSession, region: str | None, status: str | None, limit: int,
                      cursor: str | None) -> tuple[list[Notice], str | None]:
    rows = await repository.list_(session, region=region, status=status, before_id=_before_id(cursor), limit=limit)
    return page(rows, limit, lambda n: {"id": n.id})


async def list_for(*, session: AsyncSession, principal: Principal, region: str | None, status: str | None,
                   kind: str | None, limit: int, cursor: str | None) -> tuple[list[Notice], str | None]:
    region = region or principal.region
    if not principal.covers(region):
        return [], None
    rows = await repository.list_(session, region=region, status=status, kind=kind, before_id=_before_id(cursor),
                                  limit=limit)
    return page(rows, limit, lambda n: {"id": n.id})


# --- objections ----------------------------------------------------------------------------------

async def submit_objection(*, session: AsyncSession, notice_id: int, objection_in: ObjectionCreate,
                           limiter: ObjectionLimiter, redis) -> Objection:
    notice = await repository.get(session, notice_id, lock="share")
    if notice is None:
        raise NotFound("No such notice")
    if not accepting_objections(notice):
        raise Conflict("This notice is not open for objections", slug="notice-not-open",
                       notice_status=notice.status)
    await limiter.notice_objection(redis, notice.id)
    objection = Objection(notice_id=notice.id, contact_name=objection_in.contact_name,
                          contact_phone=objection_in.contact_phone, content=objection_in.content, status="pending",
                          created_at=now())
    session.add(objection)
    await session.flush()
    await audit.record(session, actor="public", action="objection.create", entity="objection",
                       entity_id=objection.id,
                       diff={"notice_id": notice.id, "contact_name": objection.contact_name,
                             "contact_phone": mask_phone(objection.contact_phone), "content": objection.content})
    await outbox.emit(session, topic="objection.created", to=["notifications"],
                      payload={"objection_id": objection.id, "notice_id": notice.id, "notice_title": notice.title,
                               "kind": notice.kind, "region_code": notice.region_code})
    return objection


def objection_to_read(objection: Objection, *, principal: Principal, region_code: str) -> ObjectionRead:
    phone = objection.contact_phone if principal.sees_pii(region_code) else mask_phone(objection.contact_phone)
    return ObjectionRead(id=objection.id, notice_id=objection.notice_id, contact_name=objection.contact_name,
                         contact_phone=phone, content=objection.content, status=objection.status,
                         status_label=OBJECTION_LABELS[objection.status], reply=objection.reply,
                         item_refs=objection.item_refs, resolved_by=objection.resolved_by,
                         resolved_at=objection.resolved_at, created_at=objection.created_at,
                         version=objection.version)


async def list_objections(*, session: AsyncSession, principal: Principal, notice_id: int, status: str | None,
                          limit: int, cursor: str | None) -> tuple[Notice, list[Objection], str | None]:
    notice = await get_for(session=session, principal=principal, notice_id=notice_id)
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    rows = await repository.list_objections(session, notice_id=notice.id, status=status, after_id=after, limit=limit)
    rows, next_cursor = page(rows, limit, lambda o: {"id": o.id})
    return notice, rows, next_cursor


async def resolve(*, session: AsyncSession, principal: Principal, objection_id: int,
                  resolve_in: ObjectionResolve) -> tuple[Objection, Notice]:
    objection = await repository.get_objection(session, objection_id, lock=True)
    notice = (await repository.get(session, objection.notice_id, lock="share", principal=principal)
              if objection else None)
    if objection is None or notice is None:
        raise NotFound("No such objection")
    if objection.status != "pending":
        raise Conflict(f"objection {objection.id} is already {objection.status}", slug="objection-resolved")
    refs = await _struck_refs(session, notice, resolve_in)
    at = now()
    objection.status = resolve_in.decision.value
    objection.reply = resolve_in.reply
    objection.item_refs = refs
    objection.resolved_by = principal.sub
    objection.resolved_at = at
    objection.version += 1
    session.add(objection)
    await session.flush()
    await audit.record(session, actor=principal.sub, action="objection.resolve", entity="objection",
                       entity_id=objection.id, diff={"notice_id": notice.id, "decision": objection.status,
                                                     "reply": objection.reply, "item_refs": refs})
    await outbox.emit(session, topic="objection.resolved", to=["notifications"],
                      payload={"objection_id": objection.id, "notice_id": notice.id, "notice_title": notice.title,
                               "region_code": notice.region_code, "contact_phone": objection.contact_phone,
                               "reply": objection.reply, "decision": objection.status})
    return objection, notice


async def _struck_refs(session: AsyncSession, notice: Notice, resolve_in: ObjectionResolve) -> list[str] | None:
    if resolve_in.decision == "dismissed":
        if resolve_in.item_refs:
            msg = "a dismissed objection strikes no items"
            raise Unprocessable(msg, errors=[{"loc": ["body", "item_refs"], "msg": msg}])
        return None
    wanted = resolve_in.item_refs
    if not wanted:
        if notice.item_count != 1:
            msg = "name the listed items (refs) this upheld objection strikes"
            raise Unprocessable(msg, errors=[{"loc": ["body", "item_refs"], "msg": msg}])
        return await repository.refs(session, notice.id)
    listed = await repository.refs(session, notice.id, among=sorted(set(wanted)))
    unknown = sorted(set(wanted) - set(listed))
    if unknown:
        msg = f"not listed in this notice: {', '.join(unknown[:10])}"
        raise Unprocessable(msg, errors=[{"loc": ["body", "item_refs"], "msg": msg}])
    return listed


# --- closing and withdrawing ---------------------------------------------------------------------

async def closed_payload(session: AsyncSession, notice: Notice, *, outcome: str, reason: str | None = None
                         ) -> dict[str, Any]:
    struck = set(notice.struck_refs or [])
    payload = {"notice_id": notice.id, "kind": notice.kind, "requester_ref": notice.requester_ref,
            "region_code": notice.region_code, "content_hash": notice.content_hash, "outcome": outcome,
            "reason": reason, "items": [{"ref": ref, "struck": ref in struck}
                                        for ref in await repository.refs(session, notice.id)]}
    if notice.kind == "monitoring":     # the case keeps the objections that sent it back in its history
        payload["objections"] = await repository.upheld_objections(session, notice.id)
    return payload


async def close(*, session: AsyncSession, principal: Principal, notice_id: int) -> Notice:
    notice = await get_for(session=session, principal=principal, notice_id=notice_id, lock="update")
    if notice.status != "open":
        raise Conflict(f"notice {notice.id} is {notice.status}", slug="notice-not-open")
    at = now()
    if at < notice.ends_at:
        raise Conflict(f"the notice runs until {timestamp(notice.ends_at)}", slug="notice-period-running",
                       ends_at=timestamp(notice.ends_at))
    pending = (await repository.objection_counts(session, notice.id)).get("pending", 0)
    if pending:
        raise Conflict(f"{pending} objection(s) are not resolved yet", slug="objections-unresolved", pending=pending)
    notice.struck_refs = await repository.struck_by_upheld(session, notice.id)
    await _finish(session, notice, principal=principal, status="closed", at=at)
    await audit.record(session, actor=principal.sub, action="notice.close", entity="notice", entity_id=notice.id,
                       diff={"struck_refs": notice.struck_refs, "content_hash": notice.content_hash})
    await outbox.emit(session, topic=CLOSED_TOPIC, to=[notice.requester],
                      payload=await closed_payload(session, notice, outcome="closed"))
    return notice


async def withdraw(*, session: AsyncSession, principal: Principal, notice_id: int, reason: str) -> Notice:
    """Take a notice down before it ends: the announced action does not take effect (every item struck)."""
    notice = await get_for(session=session, principal=principal, notice_id=notice_id, lock="update")
    if notice.status != "open":
        raise Conflict(f"notice {notice.id} is {notice.status}", slug="notice-not-open")
    notice.struck_refs = await repository.refs(session, notice.id)
    notice.withdraw_reason = reason
    await _finish(session, notice, principal=principal, status="withdrawn", at=now())
    await audit.record(session, actor=principal.sub, action="notice.withdraw", entity="notice", entity_id=notice.id,
                       diff={"reason": reason, "content_hash": notice.content_hash})
    await outbox.emit(session, topic=CLOSED_TOPIC, to=[notice.requester],
                      payload=await closed_payload(session, notice, outcome="withdrawn", reason=reason))
    return notice


async def _finish(session: AsyncSession, notice: Notice, *, principal: Principal, status: str, at: datetime) -> None:
    notice.status = status
    notice.closed_at = at
    notice.closed_by = principal.sub
    notice.version += 1
    session.add(notice)
    await session.flush()
