"""Internal report endpoints (service tokens only): overdue 一码申报 for funds' 滞留滞拨 alerts."""

from typing import Annotated

from fastapi import APIRouter, Query

from services.registry.monitoring.reports import service
from shared.auth import require_service
from shared.db import SessionDep

router = APIRouter(prefix="/internal/monitoring", include_in_schema=False, dependencies=[require_service()])
LIMIT = 1_000


@router.get("/overdue-reports")
async def overdue_reports(session: SessionDep,
                          prefix: Annotated[str, Query(pattern=r"^\d{0,12}$")] = "") -> dict:
    """``{"items": [{"id", "village_code", "created_at"}]}``: reports still open more than two days after they came
    in, oldest first (at most :data:`LIMIT`), in the subtree of the region code's significant digits ``prefix``."""
    rows = await service.overdue(session=session, prefix=prefix, limit=LIMIT)
    return {"items": [{"id": r["id"], "village_code": r["village_code"], "created_at": r["created_at"].isoformat()}
                      for r in rows]}
