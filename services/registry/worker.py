"""The registry's arq worker: relays its outbox and applies events addressed to it."""

from typing import Any

from services.registry.bulk.jobs import HANDLERS as BULK_HANDLERS
from services.registry.lifecycle.handlers import HANDLERS
from services.registry.monitoring.screenings.importer import HANDLERS as SCREENING_HANDLERS
from shared.settings import Settings
from shared.worker import worker_settings


def settings(app_settings: Settings | None = None) -> dict[str, Any]:
    return worker_settings("registry", handlers={**HANDLERS, **BULK_HANDLERS, **SCREENING_HANDLERS}, settings=app_settings)
