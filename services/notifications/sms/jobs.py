"""The worker's SMS job: a cron run every few seconds sends what is due (see ``delivery``)."""

from typing import Any

from services.notifications.sms.delivery import DEFAULT_POLICY, deliver_due

EVERY_SECONDS = 2


async def deliver_sms(ctx: dict[str, Any]) -> dict[str, int] | None:
    """One delivery run; None at once while another run (this worker's or another's) is still going: a slow
    provider must not make runs pile up, and one run keeps ``concurrency`` posts in flight at most, each message
    in flight on a connection of the run's own."""
    report = await deliver_due(sessionmaker=ctx["db"].sessionmaker, settings=ctx["settings"],
                               policy=ctx.get("sms_policy", DEFAULT_POLICY),
                               clock=ctx.get("clock"))
    if report.skipped:
        return None
    return {"sent": report.sent, "retried": report.retried, "failed": report.failed}
