"""Events from other services turned into messages (Chinese templates)."""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.inbox import service as inbox


async def helper_assigned(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    p = event["payload"]
    await inbox.deliver(session=session, user_id=str(p["helper_user_id"]), kind="helper.assigned",
                        title="新的帮扶对象",
                        body=f"您已被指定为{p.get('village_name', '')}{p.get('head_name', '')}户的帮扶责任人"
                             f"（户编号 {p.get('household_no', '')}）。",
                        event=event)


HANDLERS = {"helper.assigned": helper_assigned}
