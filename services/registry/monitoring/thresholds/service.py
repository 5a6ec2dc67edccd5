"""Thresholds: set by a county administrator for their region or a region above it (the province's standard is
entered by the county), read by everyone; every change in the audit chain."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.monitoring.thresholds import repository
from services.registry.monitoring.thresholds.schemas import ThresholdIn, ThresholdRead
from shared import audit, regions
from shared.auth import Principal
from shared.money import from_fen, to_fen
from shared.problems import NotFound, PreconditionFailed

applicable_fen = repository.applicable_fen


def to_read(row) -> ThresholdRead:
    return ThresholdRead(year=row.year, region_code=row.region_code, amount=from_fen(row.amount_fen),
                         version=row.version, updated_by=row.updated_by, updated_at=row.updated_at)


def _in_lineage(principal: Principal, code: str) -> bool:
    """The caller's own subtree, or a region above it (whose standard applies to the caller's households)."""
    return principal.covers(code) or regions.covers(code, principal.region)


async def put(*, session: AsyncSession, principal: Principal, year: int, threshold_in: ThresholdIn,
              if_match: str | None = None) -> tuple[ThresholdRead, bool]:
    code = threshold_in.region_code
    if not _in_lineage(principal, code):
        raise NotFound("no such region in your area", region_code=code)
    current = await repository.current(session, year=year, region_code=code)
    if if_match is not None and if_match.strip() != "*":
        tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
        if current is None or f'"{current.version}"' not in tags:
            raise PreconditionFailed("the threshold has changed", current_version=current and current.version)
    row = await repository.upsert(session, year=year, region_code=code, prefix=regions.prefix(code),
                                  amount_fen=to_fen(threshold_in.amount), actor=principal.sub)
    await audit.record(session, actor=principal.sub, action="monitoring_threshold.set",
                       entity="monitoring_threshold", entity_id=f"{year}:{code}",
                       diff={"year": year, "region_code": code, "amount": str(threshold_in.amount),
                             "previous": None if current is None else str(from_fen(current.amount_fen))})
    return to_read(row), current is None


async def listed(*, session: AsyncSession, year: int | None) -> list[ThresholdRead]:
    return [to_read(r) for r in await repository.listed(session, year=year)]
