"""Notifications service: the app inbox and SMS, fed by events from the other services."""

from fastapi import FastAPI

from services.notifications.inbox.router import router as inbox_router
from services.notifications.sms import metrics
from services.notifications.sms.router import router as sms_router
from shared import audit, dead_letters
from shared.app import create_app
from shared.settings import Settings


def create(settings: Settings | None = None) -> FastAPI:
    app = create_app(service="notifications", title="Jingzhun notifications 通知", settings=settings,
                     routers=[inbox_router, sms_router, audit.internal_router(), dead_letters.router("notifications")])
    app.state.metrics.add_source("sms", metrics.source)
    return app
