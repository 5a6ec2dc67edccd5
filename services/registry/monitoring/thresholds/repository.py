"""Every query on monitoring_threshold."""

from collections.abc import Sequence

from sqlalchemy import Row, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.monitoring.thresholds.models import MonitoringThreshold

table = MonitoringThreshold.__table__

# The threshold that applies to each village: the longest prefix of the year covering it. Usable as a lateral
# join (``JOIN LATERAL (<APPLICABLE>) t ON true``) in set-based statements over many households.
APPLICABLE = """
SELECT amount_fen FROM monitoring_threshold
WHERE year = {year} AND {village} LIKE prefix || '%'
ORDER BY length(prefix) DESC LIMIT 1"""


async def current(session: AsyncSession, *, year: int, region_code: str) -> Row | None:
    return (await session.execute(select(table).where(table.c.year == year, table.c.region_code == region_code)
                                  .with_for_update())).first()


async def upsert(session: AsyncSession, *, year: int, region_code: str, prefix: str, amount_fen: int,
                 actor: str) -> Row:
    return (await session.execute(
        pg_insert(table).values(year=year, region_code=region_code, prefix=prefix, amount_fen=amount_fen,
                                updated_by=actor)
        .on_conflict_do_update(index_elements=[table.c.year, table.c.region_code],
                               set_={"amount_fen": amount_fen, "updated_by": actor, "version": table.c.version + 1,
                                     "updated_at": text("now()")})
        .returning(*table.c))).one()


async def applicable_fen(session: AsyncSession, *, year: int, village_code: str) -> int | None:
    """The 监测标准 in fen that applies to ``village_code`` in ``year``, or None when none is set."""
    sql = text(APPLICABLE.format(year=":year", village=":village"))
    return (await session.execute(sql, {"year": year, "village": village_code})).scalar_one_or_none()


async def listed(session: AsyncSession, *, year: int | None) -> Sequence[Row]:
    query = select(table).order_by(table.c.year, table.c.prefix)
    if year is not None:
        query = query.where(table.c.year == year)
    return (await session.execute(query)).all()
