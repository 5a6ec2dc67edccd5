"""The audit API across services (CONTRACT §10): every chain verified, events listed per service."""

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from services.funds.deps import SessionDep
from shared import audit
from shared.auth import Role, require
from shared.http import ServiceClient
from shared.http_types import Limit
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import problem_responses
from shared.settings import SERVICES

router = APIRouter(prefix="/api/v1/audit",
                   dependencies=[require(Role.county_admin, Role.auditor)])

ServiceName = Literal["gateway", "registry", "funds", "notifications"]


async def _chain(request: Request, session, service: str) -> dict[str, Any]:
    if service == request.app.state.service:
        return (await audit.verify(session)).as_dict()
    client: ServiceClient = request.app.state.services
    try:
        return await client.request("GET", service, "/internal/audit/verify")
    except Exception as exc:
        return {"ok": False, "count": None, "head_hash": None, "first_bad_seq": None,
                "error": f"{service}: {exc}"}


def _instant(at: datetime | str) -> datetime:
    return at if isinstance(at, datetime) else datetime.fromisoformat(at)


@router.get("/verify", responses=problem_responses(401, 403), summary="Verify every audit chain 校验审计链")
async def verify_all(request: Request, session: SessionDep) -> dict[str, Any]:
    chains = {s: await _chain(request, session, s) for s in SERVICES}
    return {"ok": all(c.get("ok") for c in chains.values()), "chains": chains}


@router.get("/events", responses=problem_responses(401, 403), summary="Audit events 审计日志")
async def events(request: Request, session: SessionDep, service: ServiceName | None = None,
                 entity: str | None = Query(None, max_length=64), entity_id: str | None = Query(None, max_length=64),
                 limit: Limit = 50, cursor: str | None = None) -> dict[str, Any]:
    """Events of one service, or of all merged by time; ``next_cursor`` continues each chain where it stopped."""
    after: dict[str, int] = decode_cursor(cursor, partial=True, **dict.fromkeys(SERVICES, int)) or {}
    wanted = [service] if service else list(SERVICES)
    params = {"limit": limit, **({"entity": entity} if entity else {}), **({"entity_id": entity_id} if entity_id else {})}
    gathered: list[dict[str, Any]] = []
    more: set[str] = set()
    for s in wanted:
        q = dict(params, after=after.get(s, 0))
        if s == request.app.state.service:
            chunk = await audit.list_events(session, service=s, **q)
        else:
            chunk = await request.app.state.services.request("GET", s, "/internal/audit/events", params=q)
        gathered += chunk["items"]
        if chunk["next_after"] is not None:
            more.add(s)
    # funds' own events carry datetimes, the others' come over HTTP as ISO strings: one clock to sort by
    gathered.sort(key=lambda e: (_instant(e["at"]), e["service"], e["seq"]))
    taken = gathered[:limit]
    for e in taken:
        after[e["service"]] = e["seq"]
    pending = more | {e["service"] for e in gathered[limit:]}
    return {"items": taken, "next_cursor": encode_cursor(after) if pending else None}

