"""SMS rules: one message per fact, phones encrypted at rest, region-scoped reading with masked phones."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import templates
from services.notifications.sms import metrics, repository
from services.notifications.sms.models import SmsMessage
from services.notifications.sms.quiet import BEIJING, QuietHours
from services.notifications.sms.schemas import SmsRead, SmsStatus
from shared import pii, regions
from shared.auth import Principal
from shared.idnumber import mask_phone
from shared.pagination import decode_cursor, page
from shared.problems import NotFound
from shared.settings import Settings

log = logging.getLogger("jingzhun.notifications.sms")

_MOBILE = re.compile(r"1[3-9]\d{9}")
NO_PHONE = "no mobile number on record (未登记手机号)"
NOT_MOBILE = "not a mainland mobile number (非手机号码)"


def normalize_mobile(phone: str | None) -> str | None:
    """``13812345678`` from common spellings (spaces, dashes, +86); None when it is not a mobile number."""
    if not phone:
        return None
    digits = re.sub(r"[\s\-()]", "", phone)
    digits = re.sub(r"^(\+86|0086|86)(?=1\d{10}$)", "", digits)
    return digits if _MOBILE.fullmatch(digits) else None


@lru_cache(maxsize=8)
def quiet_hours(spec: str) -> QuietHours:
    return QuietHours.parse(spec)


_QUEUED = "jingzhun.sms.queued"


async def queue(*, session: AsyncSession, settings: Settings, kind: str, dedupe_key: str, region_code: str,
                phone: str | None, text: str, event: dict[str, Any] | None = None,
                now: datetime | None = None) -> uuid.UUID:
    """Queue an SMS in the caller's transaction; a ``dedupe_key`` that already has one writes nothing.

    Without a usable mobile number the message is stored ``failed`` with the reason, so officers can see
    who was not told. The phone is kept encrypted (AES-GCM, ``shared.pii``) and masked for display. A
    message queued in quiet hours is due when they end; ``parts`` is what the provider will bill.

    The row is written with the transaction's other queued SMS (a run of events is one transaction): all of
    them in one ``INSERT``, their audit rows in another, at :func:`flush` or, at the latest, just before the
    commit. Returns the id the message has if it is new.
    """
    now = now or datetime.now(UTC)
    mobile = normalize_mobile(phone)
    status, error = (SmsStatus.queued, None) if mobile else (SmsStatus.failed, NOT_MOBILE if phone else NO_PHONE)
    stored = mobile or phone or None
    message_id = uuid.uuid4()
    row = {
        "id": message_id, "dedupe_key": dedupe_key, "kind": kind, "region_code": region_code,
        "event_id": uuid.UUID(str(event["event_id"])) if event else None,
        "phone_enc": pii.cipher(settings).encrypt(stored, field="phone") if stored else None,
        "phone_masked": mask_phone(stored), "text": text, "parts": templates.sms_parts(text),
        "status": status.value, "last_error": error,
        "next_attempt_at": quiet_hours(settings.quiet_hours).send_at(now, kind) if status is SmsStatus.queued
        else None}
    actor = f"event:{event['source']}" if event else "system"
    pending = session.sync_session.info.get(_QUEUED)
    if pending is None:
        pending = session.sync_session.info[_QUEUED] = (session, settings.sms_url is not None, [])
    pending[2].append((row, actor, event and event["event_id"]))
    return message_id


async def flush(session: AsyncSession) -> None:
    """Write the SMS queued in this transaction so far: one ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING``,
    one for their audit rows, their counters."""
    pending = session.sync_session.info.pop(_QUEUED, None)
    if not pending:
        return
    _, provider_configured, queued = pending
    inserted = set(await repository.insert_many(session, [row for row, _, _ in queued]))
    entries, counts = [], {"queued": 0, "failed": 0}
    for row, actor, event_id in queued:
        if row["id"] not in inserted:
            log.info("SMS for %s exists already; not queued again", row["dedupe_key"])
            continue
        entries.append({"actor": actor, "entity_id": row["id"], "diff": {
            "kind": row["kind"], "phone": row["phone_masked"], "region_code": row["region_code"],
            "status": row["status"], "error": row["last_error"], "event_id": event_id,
            "dedupe_key": row["dedupe_key"]}})
        counts[row["status"]] += 1
        if row["status"] == SmsStatus.failed:
            log.warning("SMS %s (%s) cannot be sent: %s", row["id"], row["kind"], row["last_error"])
        elif not provider_configured:
            log.warning("JINGZHUN_SMS_URL is not set: SMS %s to %s stays queued, NOT sent: %s", row["id"],
                        row["phone_masked"], row["text"])
    await repository.audit_all(session, [(e["actor"], "sms.queue", e["entity_id"], e["diff"]) for e in entries])
    await metrics.add(session, counts)


@orm_event.listens_for(Session, "before_commit", insert=True)    # before the counters are written (``metrics``)
def _flush_before_commit(sync_session: Session) -> None:
    if (pending := sync_session.info.get(_QUEUED)) is not None:
        await_only(flush(pending[0]))


@orm_event.listens_for(Session, "after_rollback")
def _forget(sync_session: Session) -> None:
    sync_session.info.pop(_QUEUED, None)


async def phone_of(session: AsyncSession, settings: Settings, dedupe_key: str) -> str | None:
    """The phone the SMS about ``dedupe_key`` was (or is to be) sent to; None without such an SMS or number."""
    await flush(session)
    enc = await repository.phone_enc_of(session, dedupe_key)
    if enc is None:
        return None
    try:
        return pii.cipher(settings).decrypt(enc, field="phone")
    except pii.DecryptionError:
        log.warning("the phone of SMS %s cannot be decrypted with this deployment's key", dedupe_key)
        return None


# --- reading -------------------------------------------------------------------------------------

def detail(m: SmsMessage, *, provider_configured: bool) -> str:
    if m.status == SmsStatus.sent:
        return f"短信网关已接收（第 {m.attempts} 次发送）"
    if m.status == SmsStatus.failed:
        if m.attempts == 0:
            return f"未发送：{m.last_error}"
        return f"发送 {m.attempts} 次均未成功，已停止重试：{m.last_error}"
    if not provider_configured:
        return "未配置短信网关（JINGZHUN_SMS_URL 未设置）：短信保留在队列中，尚未发送"
    if m.attempts == 0:
        if m.next_attempt_at is not None and m.next_attempt_at > datetime.now(UTC):
            at = m.next_attempt_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
            return f"静默时段不发短信，将于北京时间 {at} 发送"
        return "等待发送"
    return f"第 {m.attempts} 次发送未成功（{m.last_error}），将自动重试"


def to_read(m: SmsMessage, *, provider_configured: bool) -> SmsRead:
    return SmsRead(id=m.id, kind=m.kind, kind_label=templates.MESSAGE_KIND_LABELS.get(m.kind, m.kind),
                   phone=m.phone_masked, text=m.text, status=SmsStatus(m.status),
                   status_label=templates.SMS_STATUS_LABELS[m.status],
                   detail=detail(m, provider_configured=provider_configured), parts=m.parts, attempts=m.attempts,
                   next_attempt_at=m.next_attempt_at if m.status == SmsStatus.queued else None,
                   last_error=m.last_error, region_code=m.region_code, created_at=m.created_at, sent_at=m.sent_at)


def _subtree(code: str) -> tuple[str, str]:
    prefix = regions.prefix(code)
    return prefix.ljust(12, "0"), prefix.ljust(12, "9")


def _before(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    key = decode_cursor(cursor, at=datetime, id=uuid.UUID)
    return None if key is None else (key["at"], key["id"])


async def list_for(*, session: AsyncSession, principal: Principal, region: str | None, status: str | None,
                   kind: str | None, limit: int, cursor: str | None) -> tuple[list[SmsMessage], str | None]:
    """The caller's region subtree (or ``region`` inside it; outside it the list is empty), newest first."""
    scope = region or (None if principal.is_service else principal.region)
    if scope is not None and not principal.covers(scope):
        return [], None
    rows = await repository.list_(session, region_range=_subtree(scope) if scope else None, status=status,
                                  kind=kind, before=_before(cursor), limit=limit + 1)
    return page(rows, limit, lambda m: {"at": m.created_at.isoformat(), "id": str(m.id)})


async def get_for(*, session: AsyncSession, principal: Principal, message_id: uuid.UUID) -> SmsMessage:
    message = await repository.get(session, message_id)
    if message is None or not principal.covers(message.region_code):
        raise NotFound("No such message")
    return message
