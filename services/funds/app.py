"""Funds service (专款专用): fund sources, allocations and the ledger, disbursements, loans, 公示, audit API."""

from fastapi import FastAPI

from services.funds.alerts.router import router as alerts_router
from services.funds.allocations.router import router as allocations_router
from services.funds.audit_api.router import router as audit_router
from services.funds.disbursements import router as disbursements
from services.funds.exports.router import router as exports_router
from services.funds.loans.router import bank_events as loan_events_router
from services.funds.loans.router import router as loans_router
from services.funds.notices import router as notices
from services.funds.projects.router import router as projects_router
from services.funds.reconciliation import router as reconciliation
from services.funds.risk_claims.router import router as risk_claims_router
from services.funds.sources.router import router as sources_router
from services.funds import glossary
from services.funds.notices import glossary as notices_glossary
from services.funds.stats.router import router as stats_router
from shared import audit, dead_letters
from shared.app import create_app
from shared.i18n import Vocabulary
from shared.settings import Settings


def create(settings: Settings | None = None) -> FastAPI:
    return create_app(service="funds", title="Jingzhun funds 资金", settings=settings,
                      routers=[sources_router, allocations_router, disbursements.router, disbursements.bank_router,
                               reconciliation.router, reconciliation.bank_router,
                               projects_router, loan_events_router, loans_router, risk_claims_router,
                               notices.officers, notices.public, notices.internal,
                               alerts_router, stats_router, exports_router, audit_router, audit.internal_router(),
                               dead_letters.router("funds")],
                      glossaries=[glossary, notices_glossary],
                      vocabulary=Vocabulary({**notices_glossary.FIELD_LABELS, **glossary.FIELD_LABELS},
                                            glossary.MESSAGES_ZH, glossary.PATTERNS_ZH))
