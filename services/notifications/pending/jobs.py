"""The worker's job for events waiting on another service (see ``service``)."""

from typing import Any

from services.notifications.handlers import HANDLERS
from services.notifications.pending.service import resume_due

EVERY_SECONDS = 5


async def resume_pending(ctx: dict[str, Any]) -> int | None:
    if ctx.get("pending_running"):       # the previous run is still waiting on the gateway
        return None
    ctx["pending_running"] = True
    try:
        return await resume_due(sessionmaker=ctx["db"].sessionmaker, handlers=HANDLERS, ctx=ctx)
    finally:
        ctx["pending_running"] = False
