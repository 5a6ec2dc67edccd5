"""台账 rules: who may export what, the year's bounds, names shown or masked; the workbook is written to a
temporary file a chunk of rows at a time (memory stays flat however many movements a county has in a year)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.clients import registry
from services.funds.exports import repository
from services.funds.exports.workbook import CHINA, LedgerBook
from shared import regions
from shared.auth import Principal
from shared.http import ServiceClient
from shared.problems import NotFound, Unprocessable


def this_year() -> int:
    return datetime.now(CHINA).year


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The year in China Standard Time: [1 January 00:00, next 1 January 00:00)."""
    return datetime(year, 1, 1, tzinfo=CHINA), datetime(year + 1, 1, 1, tzinfo=CHINA)


async def ledger_book(*, session: AsyncSession, principal: Principal, services: ServiceClient, region: str | None,
                      year: int) -> Path:
    """The workbook's temporary file (the caller removes it once sent)."""
    code = region or principal.region
    if not code:
        raise Unprocessable("region is required", errors=[{"loc": ["query", "region"], "msg": "required"}])
    if not principal.covers(code):
        raise NotFound("No such region")
    info = await registry.region(services, code)
    if info is None:
        raise NotFound("No such region")
    start, end = year_bounds(year)
    allocations = list(await repository.allocations(session, prefix=regions.prefix(code), start=start, end=end))
    names = {code: info["name"]}
    for other in sorted({a["region_code"].strip() for a in allocations} - names.keys()):
        if (found := await registry.region(services, other)) is not None:
            names[other] = found["name"]
    book = LedgerBook(region_code=code, region_name=info["name"], year=year, full_names=principal.sees_pii(code),
                      region_names=names)
    fd, name = tempfile.mkstemp(prefix="jz-ledger-", suffix=".xlsx")
    os.close(fd)
    path = Path(name)
    try:
        await asyncio.to_thread(book.begin, allocations)
        if allocations:
            async for chunk in repository.movements(session, allocation_ids=[a["id"] for a in allocations],
                                                    start=start, end=end):
                await asyncio.to_thread(book.write, chunk)
        await asyncio.to_thread(book.finish)
        await asyncio.to_thread(book.save, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
