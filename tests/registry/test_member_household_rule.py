"""A member always belongs to a household that exists: the database says so, once per statement (migration
26d178dd40cf) instead of PostgreSQL's row-by-row foreign key, and households are never deleted or renumbered."""

from datetime import date

import asyncpg
import pytest

from services.registry.bulk.repository import MEMBER_COLUMNS
from shared.db import asyncpg_dsn, database_name

FK = "fk_member_household_id_household"


@pytest.fixture
async def conn(settings):
    c = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    yield c
    await c.close()


def member_row(household_id: int, n: int) -> tuple:
    return (household_id, f"成员{n}", bytes([n]) * 32, b"enc", "640122********0011", "male", date(1960, 1, 1),
            "son", "healthy", "normal", None, False, False)


INSERT = (f"INSERT INTO member ({', '.join(MEMBER_COLUMNS)}) "
          f"VALUES ({', '.join(f'${i + 1}' for i in range(len(MEMBER_COLUMNS)))})")


async def members_of(conn, household_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM member WHERE household_id = $1", household_id)


async def test_a_member_of_a_missing_household_is_refused_like_a_foreign_key(create, conn):
    h = await create()
    with pytest.raises(asyncpg.ForeignKeyViolationError) as e:
        await conn.execute(INSERT, *member_row(h["id"] + 1000, 1))
    assert e.value.constraint_name == FK and f"({h['id'] + 1000})" in e.value.detail
    # one bad row in a COPY: nothing of the COPY stays
    rows = [member_row(h["id"], 2), member_row(h["id"] + 1000, 3), member_row(h["id"], 4)]
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.copy_records_to_table("member", records=rows, columns=MEMBER_COLUMNS)
    assert await members_of(conn, h["id"]) == 2
    await conn.execute(INSERT, *member_row(h["id"], 5))          # an existing household: accepted
    assert await members_of(conn, h["id"]) == 3


async def test_moving_a_member_to_a_missing_household_is_refused(create, conn):
    h = await create()
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("UPDATE member SET household_id = household_id + 1000 WHERE household_id = $1", h["id"])
    assert await members_of(conn, h["id"]) == 2
    await conn.execute("UPDATE member SET health = 'disabled' WHERE household_id = $1", h["id"])   # other edits pass


async def test_a_household_is_never_deleted_nor_renumbered(create, conn):
    h = await create()
    for sql in ("DELETE FROM household WHERE id = $1", "UPDATE household SET id = id + 1000 WHERE id = $1"):
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute(sql, h["id"])
    assert await conn.fetchval("SELECT count(*) FROM household WHERE id = $1", h["id"]) == 1
    await conn.execute("UPDATE household SET address = '新地址' WHERE id = $1", h["id"])          # other edits pass
    # emptying the household table without its members is refused too; together they go (test cleanup does that)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("TRUNCATE household CASCADE")
    await conn.execute("TRUNCATE household, member CASCADE")
    assert await conn.fetchval("SELECT count(*) FROM member") == 0


async def test_a_member_of_a_household_not_yet_committed_is_refused(create, conn, settings):
    await create()          # the region tree
    other = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        async with other.transaction():
            hid = await other.fetchval(
                "INSERT INTO household (household_no, village_code, attribute, main_cause, head_name, created_by) "
                "VALUES ('6401221000019999', '640122100001', 'general', 'illness', '马', 't') RETURNING id")
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await conn.execute(INSERT, *member_row(hid, 7))
            await other.execute(INSERT, *member_row(hid, 8))     # its own transaction sees it
    finally:
        await other.close()
    assert await members_of(conn, hid) == 1
