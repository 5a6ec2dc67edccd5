"""Poverty lines: one amount per year, set by a county administrator, read by everyone (exit checks)."""

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.poverty_lines.models import PovertyLine
from services.registry.poverty_lines.schemas import PovertyLineIn, PovertyLineRead
from shared import audit
from shared.money import from_fen, to_fen
from shared.problems import PreconditionFailed

table = PovertyLine.__table__


def to_read(row) -> PovertyLineRead:
    return PovertyLineRead(year=row.year, amount=from_fen(row.amount_fen), version=row.version,
                           updated_by=row.updated_by, updated_at=row.updated_at)


async def amount_fen(session: AsyncSession, year: int) -> int | None:
    return (await session.execute(select(table.c.amount_fen).where(table.c.year == year))).scalar_one_or_none()


async def put(*, session: AsyncSession, actor: str, year: int, line_in: PovertyLineIn,
              if_match: str | None = None) -> tuple[PovertyLineRead, bool]:
    """Set the line for ``year``; returns it and whether it was created."""
    current = (await session.execute(select(table).where(table.c.year == year).with_for_update())).first()
    if if_match is not None and if_match.strip() != "*":
        tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
        if current is None or f'"{current.version}"' not in tags:
            raise PreconditionFailed("the poverty line has changed", current_version=current and current.version)
    fen = to_fen(line_in.amount)
    row = (await session.execute(
        pg_insert(table).values(year=year, amount_fen=fen, updated_by=actor)
        .on_conflict_do_update(index_elements=[table.c.year],
                               set_={"amount_fen": fen, "updated_by": actor, "version": table.c.version + 1,
                                     "updated_at": text("now()")})
        .returning(*table.c))).one()
    await audit.record(session, actor=actor, action="poverty_line.set", entity="poverty_line", entity_id=year,
                       diff={"amount": str(line_in.amount),
                             "previous": None if current is None else str(from_fen(current.amount_fen))})
    return to_read(row), current is None


async def all_lines(session: AsyncSession) -> list[PovertyLineRead]:
    return [to_read(r) for r in (await session.execute(select(table).order_by(table.c.year))).all()]
