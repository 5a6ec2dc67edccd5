"""The worker's daily 滞留滞拨 job: run every hour (and at start), it writes each county's event once a day."""

from typing import Any

from services.funds.alerts import service


async def daily_alerts(ctx: dict[str, Any]) -> dict[str, Any]:
    async with ctx["db"].sessionmaker() as session:
        counties = await service.send_daily(session=session, settings=ctx["settings"], services=ctx["services"])
        await session.commit()
    return {"counties": counties}
