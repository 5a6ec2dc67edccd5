"""Funds statistics of a region subtree: per purpose and in total (CONTRACT §5's figures, summed)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.glossary import PURPOSE_LABELS, Purpose
from services.funds.stats import repository
from services.funds.stats.schemas import Figures, FundStats, PurposeFigures
from shared import regions
from shared.auth import Principal
from shared.money import from_fen
from shared.problems import NotFound
from shared.settings import Settings

MONEY = ("allocated", "committed", "spent", "available", "idle")
COLUMN = {"allocated": "amount"}


async def fund_stats(*, session: AsyncSession, principal: Principal, settings: Settings, code: str,
                     year: int | None) -> FundStats:
    if not principal.covers(code):
        raise NotFound("No such region")
    rows = {r["purpose"]: r for r in await repository.per_purpose(
        session, prefix=regions.prefix(code), year=year, as_of=await repository.today(session),
        idle_days=settings.idle_days)}
    total = dict.fromkeys((*MONEY, "allocations", "idle_allocations"), 0)
    purposes = []
    for purpose in Purpose:
        r = rows.get(purpose.value)
        fen = {k: int(r[COLUMN.get(k, k)]) if r else 0 for k in MONEY}
        counts = {k: int(r[k]) if r else 0 for k in ("allocations", "idle_allocations")}
        for k, v in {**fen, **counts}.items():
            total[k] += v
        purposes.append(PurposeFigures(purpose=purpose, purpose_label=PURPOSE_LABELS[purpose.value], **counts,
                                       **{k: from_fen(v) for k, v in fen.items()}))
    return FundStats(region_code=code, year=year, idle_days=settings.idle_days, purposes=purposes,
                     total=Figures(**{k: from_fen(v) if k in MONEY else v for k, v in total.items()}))
