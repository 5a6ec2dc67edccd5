"""The notifications worker: consumes events once, turns them into messages, delivers SMS on a cron.

Several workers may run: each cron tick runs once (arq's unique cron job ids), and the jobs themselves
claim rows with ``FOR UPDATE SKIP LOCKED``.
"""

from typing import Any

from arq.cron import cron   # arq's cron has no wrapper in shared.queue yet; this is its only other use

from services.notifications.handlers import HANDLERS
from services.notifications.pending.jobs import EVERY_SECONDS as PENDING_EVERY, resume_pending
from services.notifications.sms.delivery import DEFAULT_POLICY
from services.notifications.sms.jobs import EVERY_SECONDS as SMS_EVERY, deliver_sms
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    ws = worker_settings("notifications", handlers=HANDLERS, settings=app_settings)
    ws["cron_jobs"] = [
        cron(deliver_sms, second=set(range(0, 60, SMS_EVERY)), run_at_startup=True, max_tries=1,
             timeout=DEFAULT_POLICY.budget + DEFAULT_POLICY.timeout + 30),
        cron(resume_pending, second=set(range(0, 60, PENDING_EVERY)), run_at_startup=True, max_tries=1, timeout=300),
    ]
    return ws
