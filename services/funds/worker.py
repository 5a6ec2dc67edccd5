"""The funds arq worker: relays its outbox, applies events addressed to it, writes the daily 滞留滞拨 alerts."""

from typing import Any

from services.funds.alerts.jobs import daily_alerts
from services.funds.disbursements.handlers import HANDLERS
from shared.queue import hourly
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("funds", handlers=HANDLERS, settings=app_settings, periodic=[hourly(daily_alerts)])
