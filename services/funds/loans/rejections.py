"""Loan events a bank posted and was refused, kept with the problem they were answered with so the bank can see
them (``GET /api/v1/bank/loan-events/rejected``). The refusal is written in a transaction of its own after the
request's was rolled back: the posted event still changes nothing else."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.loans import repository as repo
from services.funds.loans.models import LoanEventRejection
from shared import audit
from shared.auth import Principal
from shared.idnumber import mask
from shared.pagination import decode_cursor, page

FIELDS = ("event_id", "loan_no", "id_number", "kind", "occurred_at", "amount", "rate", "term_months", "credit_line",
          "rating")
# problems that are about the request, not the event: nothing to keep
NOT_EVENTS = frozenset({"idempotency-key-reused", "idempotency-in-flight", "database-unavailable"})


def _masked_id(value: Any) -> str:
    if isinstance(value, str) and len(value) == 18:
        return mask(value)
    return "***" if value else ""


def posted(raw: bytes) -> dict[str, Any] | None:
    """The event's fields as posted (the ID number masked, strings cut at 64), or None without a usable
    ``event_id`` (a body that names no event cannot be kept as one)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 64 or "\x00" in event_id:
        return None
    kept: dict[str, Any] = {}
    for name in FIELDS:
        if name not in body:
            continue
        v = body[name]
        if name == "id_number":
            v = _masked_id(v)
        elif isinstance(v, str):
            v = v.replace("\x00", "")[:64]
        elif isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        elif not isinstance(v, (int, float, bool)) and v is not None:
            v = str(type(v).__name__)
        kept[name] = v
    return kept


def _short(value: Any, n: int) -> str | None:
    return value[:n] if isinstance(value, str) and "\x00" not in value else None


async def record(session: AsyncSession, *, principal: Principal, body: dict[str, Any], problem: dict[str, Any]
                 ) -> None:
    """Keep (or count again) the refusal of ``body`` with ``problem`` (its RFC 9457 body); audited."""
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    if slug in NOT_EVENTS:
        return
    values = {"bank_code": principal.bank or "", "event_id": body["event_id"],
              "loan_no": _short(body.get("loan_no"), 64), "kind": _short(body.get("kind"), 16),
              "status": int(problem.get("status", 422)), "problem_type": str(problem.get("type", ""))[:200],
              "reason": str(problem.get("detail") or problem.get("title") or "")[:2000],
              "errors": problem.get("errors"), "body": body}
    row = await repo.keep_rejection(session, values)
    await audit.record(session, actor=principal.sub, action="loan_event.rejected", entity="loan_event_rejection",
                       entity_id=row.id, diff={"event_id": values["event_id"], "loan_no": values["loan_no"],
                                               "status": values["status"], "reason": values["reason"],
                                               "attempts": row.attempts})


async def list_(*, session: AsyncSession, principal: Principal, limit: int, cursor: str | None
                ) -> tuple[list[LoanEventRejection], str | None]:
    """The calling bank's refused events, newest first."""
    key = decode_cursor(cursor, id=int)
    rows = await repo.rejections_page(session, principal, before=key["id"] if key else None, limit=limit + 1)
    return page(rows, limit, lambda r: {"id": r.id})
