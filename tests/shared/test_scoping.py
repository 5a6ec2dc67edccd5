"""Who reads which rows: the readable clauses of shared/scoping, evaluated by PostgreSQL."""

import asyncpg
import pytest
from sqlalchemy import column, select, table
from sqlalchemy.dialects import postgresql

from shared import regions
from shared.auth import Principal, Role
from shared.db import asyncpg_dsn, database_name
from shared.scoping import subtree, subtree_or_above

ROWS = ["640000000000", "640100000000", "640122000000", "640122001000", "640122001001", "640122002001",
        "640123001001", "650122001001"]
ROW = table("row", column("region_code"))


def who(region: str, role: Role = Role.township_officer) -> Principal:
    return Principal(sub="u", role=role, region=region, jti="j", exp=0)


async def readable(settings, clause) -> list[str]:
    sql = select(ROW.c.region_code).where(clause).order_by(ROW.c.region_code).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        await conn.execute("CREATE TEMP TABLE row (region_code char(12))")
        await conn.executemany("INSERT INTO row VALUES ($1)", [(r,) for r in ROWS])
        return [r[0] for r in await conn.fetch(str(sql))]
    finally:
        await conn.close()


async def test_a_township_officer_reads_their_township_only(settings):
    assert await readable(settings, subtree(ROW.c.region_code, who("640122001000"))) == [
        "640122001000", "640122001001"]


async def test_a_township_officer_also_reads_what_the_county_above_holds(settings):
    assert await readable(settings, subtree_or_above(ROW.c.region_code, who("640122001000"))) == [
        "640000000000", "640100000000", "640122000000", "640122001000", "640122001001"]


async def test_a_county_admin_reads_no_other_county(settings):
    seen = await readable(settings, subtree(ROW.c.region_code, who("640122000000", Role.county_admin)))
    assert "640123001001" not in seen and "650122001001" not in seen and len(seen) == 4


@pytest.mark.parametrize("code, above", [("640122001001", ["640122001000", "640122000000", "640100000000",
                                                            "640000000000"]),
                                         ("640000000000", [])])
def test_ancestors_nearest_first(code, above):
    assert regions.ancestors(code) == above
