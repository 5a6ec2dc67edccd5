"""Registry service (建档立卡): regions, households, members and their lifecycle."""

from fastapi import FastAPI

from services.registry.regions.router import router as regions_router
from shared import audit
from shared.app import create_app
from shared.settings import Settings


def create(settings: Settings | None = None) -> FastAPI:
    return create_app(service="registry", title="Jingzhun registry 建档立卡", settings=settings,
                      routers=[regions_router, audit.internal_router()])
