"""The funds arq worker: relays its outbox, applies events addressed to it, writes the daily 滞留滞拨 alerts and
the loan reminders each morning (08:00 China time, and when a worker starts)."""

from typing import Any

from services.funds.alerts.jobs import daily_alerts
from services.funds.disbursements.handlers import HANDLERS
from services.funds.loans.reminders import send_reminders
from shared.queue import daily, hourly
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("funds", handlers=HANDLERS, settings=app_settings,
                           periodic=[hourly(daily_alerts), daily(send_reminders, hour=0)])
