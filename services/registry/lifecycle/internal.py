"""Internal lifecycle endpoints (service tokens only): households' status history for funds."""

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.registry.lifecycle.history import status_history
from shared.auth import require_service
from shared.db import SessionDep
from shared.http_types import JSON_INT_MAX
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/internal/households", include_in_schema=False, dependencies=[require_service()])


class HistoryQuery(BaseModel):
    household_ids: list[Annotated[int, Field(ge=1, le=JSON_INT_MAX)]] = Field(min_length=1, max_length=100_000)


@router.post("/status-history")
async def history(query: HistoryQuery, session: SessionDep) -> JSONResponse:
    """``{"items": [{"household_id", "intervals": [{"status", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"|null}]}]}``
    for the known ids among those asked (lifecycle/history.py says how the intervals are read)."""
    return FastJSONResponse({"items": await status_history(session, query.household_ids)})
