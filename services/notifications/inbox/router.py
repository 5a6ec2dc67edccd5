from fastapi import APIRouter

from services.notifications.inbox import service
from services.notifications.inbox.schemas import InboxMessageRead, InboxPage, UnreadCount
from shared.auth import PrincipalDep
from shared.db import SessionDep
from shared.http_types import IdPath, Limit
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/me/notifications")


@router.get("", response_model=InboxPage, responses=problem_responses(400, 401),
            summary="My inbox 我的消息")
async def my_notifications(session: SessionDep, principal: PrincipalDep, unread: bool = False,
                           limit: Limit = 50, cursor: str | None = None) -> InboxPage:
    """Newest first; ``unread`` counts every unread message of yours (the badge), whatever the page."""
    rows, next_cursor = await service.list_mine(session=session, principal=principal, unread=unread,
                                                limit=limit, cursor=cursor)
    return InboxPage(items=[service.to_read(m) for m in rows], next_cursor=next_cursor,
                     unread=await service.unread_count(session=session, principal=principal))


@router.get("/unread-count", response_model=UnreadCount, responses=problem_responses(401),
            summary="My unread count 未读消息数")
async def my_unread_count(session: SessionDep, principal: PrincipalDep) -> UnreadCount:
    """For the app's badge: cheap enough to poll (an index-only count)."""
    return UnreadCount(unread=await service.unread_count(session=session, principal=principal))


@router.post("/{message_id}/read", response_model=InboxMessageRead, responses=problem_responses(401, 404),
             summary="Mark read 标记已读")
async def read(message_id: IdPath, session: SessionDep, principal: PrincipalDep) -> InboxMessageRead:
    return service.to_read(await service.mark_read(session=session, principal=principal, message_id=message_id))
