"""Events funds consumes: ``notice.closed`` for its own 公示 (a disbursement batch's), from its own outbox.

    {"notice_id": int, "kind": "disbursement", "requester_ref": "disbursement:<id>", "outcome": "closed" |
     "withdrawn", "items": [{"ref": "<household id>", "struck": bool}]}
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.disbursements import service


async def notice_closed(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    payload = event.get("payload") or {}
    items = payload.get("items") or []
    try:
        notice_id = int(payload["notice_id"])
    except (KeyError, TypeError, ValueError):
        return
    if not isinstance(items, list):
        return
    await service.apply_notice(session, notice_id=notice_id, requester_ref=str(payload.get("requester_ref", "")),
                               outcome=str(payload.get("outcome", "closed")),
                               items=[i for i in items if isinstance(i, dict)], actor="svc:funds")


HANDLERS = {"notice.closed": notice_closed}
