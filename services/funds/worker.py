"""The funds arq worker: relays its outbox, applies events addressed to it, and writes the loan reminders each
morning (08:00 China time, and when a worker starts)."""

from typing import Any

from services.funds.disbursements.handlers import HANDLERS
from services.funds.loans.reminders import send_reminders
from shared.queue import daily
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("funds", handlers=HANDLERS, settings=app_settings,
                           periodic=[daily(send_reminders, hour=0)])
