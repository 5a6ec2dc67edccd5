"""The notifications worker: consumes events once, turns them into messages, delivers SMS on a cron.

Several workers may run: each cron tick runs once (arq's unique cron job ids), and one run of each job
at a time holds its PostgreSQL advisory lock (``locks``); a tick that finds the previous run still going,
in this worker or another, returns at once.
"""

from typing import Any

from services.notifications.handlers import HANDLERS
from services.notifications.pending.jobs import EVERY_SECONDS as PENDING_EVERY, resume_pending
from services.notifications.sms.delivery import DEFAULT_POLICY
from services.notifications.sms.jobs import EVERY_SECONDS as SMS_EVERY, deliver_sms
from shared.queue import every
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("notifications", handlers=HANDLERS, settings=app_settings, periodic=[
        every(deliver_sms, seconds=SMS_EVERY, timeout=DEFAULT_POLICY.budget + DEFAULT_POLICY.timeout + 30),
        every(resume_pending, seconds=PENDING_EVERY),
    ])
