"""The notifications worker: consumes events once and turns them into messages."""

from typing import Any

from services.notifications.handlers import HANDLERS
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("notifications", handlers=HANDLERS, settings=app_settings)
