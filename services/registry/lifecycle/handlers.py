"""Events the registry consumes.

``notice.closed`` (from funds, when a 公示 closes)::

    {"notice_id": int, "kind": "registration" | "exit" | ..., "requester_ref": str, "region_code": str,
     "items": [{"ref": "<household id>", "struck": bool}]}

Unstruck households take the proposed status (registered / exited, with the proposal's year); struck ones stay
where they were with ``pending_action`` cleared. Other kinds, and households not waiting for this notice, are
ignored; the worker's dispatch already applies each event id once. A notice asked for by a monitoring case
(``requester_ref`` ``registry/monitoring_case/<id>/...``) goes to the case instead (monitoring/cases/service.py).
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.lifecycle import service
from services.registry.monitoring.cases import service as cases


async def notice_closed(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    payload = event.get("payload") or {}
    try:
        notice_id = int(payload["notice_id"])
    except (KeyError, TypeError, ValueError):
        return
    if str(payload.get("requester_ref", "")).startswith(cases.REF_PREFIX):
        await cases.apply_notice(session, payload=payload, actor=f"svc:{event.get('source', 'funds')}")
        return
    items = payload.get("items") or []
    if not isinstance(items, list):
        return
    await service.apply_notice(session, notice_id=notice_id, kind=str(payload.get("kind", "")),
                               items=[i for i in items if isinstance(i, dict)],
                               actor=f"svc:{event.get('source', 'funds')}")


HANDLERS = {"notice.closed": notice_closed}
