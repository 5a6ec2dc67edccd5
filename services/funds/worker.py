"""The funds arq worker: relays its outbox and applies events addressed to it."""

from typing import Any

from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("funds", handlers={}, settings=app_settings)
