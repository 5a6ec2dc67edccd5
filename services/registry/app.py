"""Registry service (建档立卡): regions, poverty lines, households, members, their lifecycle and 帮扶."""

from fastapi import FastAPI
from starlette.middleware import Middleware

from services.registry.assistance.router import router as assistance_router
from services.registry.bulk import zh as import_zh
from services.registry.bulk.jobs import COUNTERS as IMPORT_COUNTERS
from services.registry.bulk.router import router as bulk_router
from services.registry.households import read_pool
from services.registry.households.router import (
    internal_router as households_internal_router,
)
from services.registry.households.router import HouseholdReadPath
from services.registry.households.router import router as households_router
from services.registry.lifecycle.internal import router as lifecycle_internal_router
from services.registry.lifecycle.router import router as lifecycle_router
from services.registry.monitoring.cases import glossary as cases_glossary
from services.registry.monitoring.cases.router import router as cases_router
from services.registry.monitoring.reports import schemas as reports_schemas
from services.registry.monitoring.reports.internal import router as reports_internal_router
from services.registry.monitoring.screenings import columns as screenings_columns
from services.registry.monitoring.screenings import schemas as screenings_schemas
from services.registry.monitoring.reports.router import public as reports_public_router
from services.registry.monitoring.reports.router import router as reports_router
from services.registry.monitoring.screenings.router import router as screenings_router
from services.registry.monitoring.stats.router import router as monitoring_stats_router
from services.registry.monitoring.thresholds.router import router as thresholds_router
from services.registry.poverty_lines.router import router as poverty_lines_router
from services.registry.regions.router import router as regions_router
from services.registry.stats.router import router as stats_router
from services.registry import glossary
from shared import audit, dead_letters
from shared.app import create_app
from shared.i18n import Vocabulary
from shared.settings import Settings


VOCABULARY = Vocabulary(glossary.FIELD_LABELS, {**glossary.MESSAGES_ZH, **import_zh.MESSAGES},
                        (*glossary.PATTERNS_ZH, *import_zh.PATTERNS))


def create(settings: Settings | None = None) -> FastAPI:
    return create_app(service="registry", title="Jingzhun registry 建档立卡", settings=settings,
                      routers=[regions_router, poverty_lines_router, households_router, lifecycle_router,
                               assistance_router, stats_router, bulk_router, thresholds_router, cases_router,
                               monitoring_stats_router, reports_router, reports_public_router, screenings_router,
                               households_internal_router, reports_internal_router,
                               lifecycle_internal_router, audit.internal_router(), dead_letters.router("registry")],
                      on_startup=[read_pool.open_pool], on_shutdown=[read_pool.close_pool],
                      fast_paths=[Middleware(HouseholdReadPath)], counters=IMPORT_COUNTERS,
                      glossaries=[glossary, cases_glossary, reports_schemas, screenings_schemas, screenings_columns],
                      vocabulary=VOCABULARY)
