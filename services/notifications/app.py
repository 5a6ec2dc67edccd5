"""Notifications service: the app inbox and SMS, fed by events from the other services."""

from fastapi import FastAPI

from services.notifications.inbox.router import router as inbox_router
from services.notifications import templates
from services.notifications.sms import metrics
from services.notifications.sms import schemas as sms_schemas
from services.notifications.sms.router import router as sms_router
from shared import audit, dead_letters
from shared.app import create_app
from shared.i18n import Vocabulary
from shared.settings import Settings


def create(settings: Settings | None = None) -> FastAPI:
    app = create_app(service="notifications", title="Jingzhun notifications 通知", settings=settings,
                     routers=[inbox_router, sms_router, audit.internal_router(), dead_letters.router("notifications")],
                     glossaries=[sms_schemas, templates],
                     vocabulary=Vocabulary({"message_id": "消息", "status": "状态", "phone": "手机号"},
                                           {"No such message": "没有这条消息"}))
    app.state.metrics.add_source("sms", metrics.source)
    return app
