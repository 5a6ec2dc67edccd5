"""The funds arq worker: relays its outbox and applies events addressed to it."""

from typing import Any

from services.funds.disbursements.handlers import HANDLERS
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("funds", handlers=HANDLERS, settings=app_settings)
