"""The worker's SMS job: a cron run every few seconds sends what is due (see ``delivery``)."""

from typing import Any

from services.notifications.sms.delivery import DEFAULT_POLICY, deliver_due

EVERY_SECONDS = 2


async def deliver_sms(ctx: dict[str, Any]) -> dict[str, int] | None:
    """One delivery run; skipped while this worker's previous run is still going (a slow provider must not
    make runs pile up: other workers still take their share, their claims skip the rows this one holds)."""
    if ctx.get("sms_running"):
        return None
    ctx["sms_running"] = True
    try:
        report = await deliver_due(sessionmaker=ctx["db"].sessionmaker, settings=ctx["settings"],
                                   client=ctx["http"], policy=ctx.get("sms_policy", DEFAULT_POLICY))
    finally:
        ctx["sms_running"] = False
    return {"sent": report.sent, "retried": report.retried, "failed": report.failed}
