"""The worker's job for events waiting on another service (see ``service``)."""

from typing import Any

from services.notifications.handlers import HANDLERS
from services.notifications.pending.service import resume_due

EVERY_SECONDS = 5


async def resume_pending(ctx: dict[str, Any]) -> int | None:
    """One run; None at once while another run (this worker's or another's) is still waiting on the gateway."""
    return await resume_due(sessionmaker=ctx["db"].sessionmaker, handlers=HANDLERS, ctx=ctx)
