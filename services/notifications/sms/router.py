import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.notifications.sms import service
from services.notifications.sms.schemas import SmsRead, SmsStatus
from shared.auth import PrincipalDep, Role, require
from shared.db import SessionDep
from shared.http_types import Limit
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter(prefix="/api/v1/notifications",
                   dependencies=[require(Role.county_admin, Role.township_officer, Role.auditor)])

RegionQuery = Annotated[RegionCode | None, Query(description="a 12-digit region code inside your own: its subtree")]
KindQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z._]+$")]
CursorQuery = Annotated[str | None, Query(max_length=512)]


def _configured(request: Request) -> bool:
    return bool(request.app.state.settings.sms_url)


@router.get("", response_model=Page[SmsRead], responses=problem_responses(400, 401, 403, 422),
            summary="SMS and their delivery 短信发送记录")
async def list_sms(request: Request, session: SessionDep, principal: PrincipalDep, status: SmsStatus | None = None,
                   region: RegionQuery = None, kind: KindQuery = None, limit: Limit = 50,
                   cursor: CursorQuery = None) -> Page[SmsRead]:
    """Newest first, within your region (county_admin, township_officer, auditor); phones are masked.
    ``queued`` messages are waiting for their next attempt, or for an SMS provider when ``JINGZHUN_SMS_URL``
    is not set (``detail`` says which)."""
    rows, next_cursor = await service.list_for(session=session, principal=principal, region=region,
                                               status=status, kind=kind, limit=limit, cursor=cursor)
    configured = _configured(request)
    return Page(items=[service.to_read(m, provider_configured=configured) for m in rows], next_cursor=next_cursor)


@router.get("/{message_id}", response_model=SmsRead, responses=problem_responses(401, 403, 404, 422),
            summary="One SMS 短信详情")
async def get_sms(message_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep) -> SmsRead:
    message = await service.get_for(session=session, principal=principal, message_id=message_id)
    return service.to_read(message, provider_configured=_configured(request))
