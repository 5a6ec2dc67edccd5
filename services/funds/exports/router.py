"""台账 export (CONTRACT §5)."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Annotated, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse

from services.funds.deps import SessionDep
from services.funds.exports import service
from shared.auth import Principal, Role, require
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter()

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READERS = require(Role.county_admin, Role.finance_officer, Role.auditor)
CHUNK = 64 * 1024


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while data := await asyncio.to_thread(handle.read, CHUNK):
            yield data
    finally:
        handle.close()


@router.get("/api/v1/exports/ledger.xlsx", response_class=StreamingResponse, responses={
    200: {"content": {MEDIA_TYPE: {}}, "description": "the workbook"}, **problem_responses(401, 403, 404, 422, 503)},
    summary="台账: the ledger of a region's allocations for a year (.xlsx)")
async def export_ledger(request: Request, session: SessionDep,
                        region: Annotated[RegionCode | None, Query(description="default: your region")] = None,
                        year: Annotated[int | None, Query(ge=2000, le=2100,
                                                          description="default: this year (China time)")] = None,
                        principal: Principal = READERS) -> StreamingResponse:
    """A summary sheet, then one sheet per allocation of the region's subtree that moved money in `year` or
    carried unspent money into it: the source (name, level, 文号), the allocation's 文号, purpose, region, year and
    amount; the balance on 1 January; every ledger entry of the year in order with its counter-party (the fund
    source, the other allocation of a 调项, the project's payee, the household batch and, under its payments, each
    household paid: household number and head's name, masked unless your role may see it); the year's totals, the
    closing balance and the check that they tie out. A year without any gives a summary sheet saying so.
    County administrators, finance officers and auditors; a region outside yours is 404."""
    year = year or service.this_year()
    path = await service.ledger_book(session=session, principal=principal, services=request.app.state.services,
                                     region=region, year=year)
    handle = path.open("rb")
    path.unlink()               # gone from the disk once sent, or once the client goes away
    name = f"ledger-{region or principal.region}-{year}.xlsx"
    return StreamingResponse(_chunks(handle), media_type=MEDIA_TYPE, headers={
        "Content-Length": str(os.fstat(handle.fileno()).st_size),
        "Content-Disposition": f"attachment; filename={name}; filename*=UTF-8''{quote('台账')}-{name}"})
