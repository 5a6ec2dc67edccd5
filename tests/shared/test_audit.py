"""The audit chain: written with the change, broken by any edit behind the services' backs."""

import asyncio
import asyncpg
import pytest

from services.funds.sources import service as sources
from services.gateway.users import service as users
from services.funds.sources.schemas import FundSourceCreate
from services.notifications.inbox import service as inbox
from services.registry.regions import service as regions
from services.registry.regions.schemas import RegionCreate
from shared import audit
from shared.auth import Principal, Role
from shared.db import Database, asyncpg_dsn, database_name
from shared.testing import auth
from tests.conftest import COUNTY

ADMIN = Principal(sub="u-admin", role=Role.county_admin, region=COUNTY, jti="j", exp=0)


async def chain_count(settings, service: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, service)))
    try:
        # a committed row is in the chain, or waiting a moment for the sealer
        return await conn.fetchval("SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM audit_pending)")
    finally:
        await conn.close()


WRITES = {
    "gateway": lambda s: users.create_user(s, username="ma.wenjun", password="Helan-cadre-2020",
                                           display_name="马文军", role="village_cadre", region_code=COUNTY,
                                           created_by="u-admin"),
    "registry": lambda s: regions.create(session=s, principal=ADMIN,
                                         region_in=RegionCreate(code=COUNTY, name="贺兰县", rural_population=1)),
    "funds": lambda s: sources.create(session=s, principal=ADMIN, source_in=FundSourceCreate(
        name="中央财政专项扶贫资金", level="central", doc_no="宁财农发〔2020〕1号", year=2020)),
    "notifications": lambda s: inbox.deliver(session=s, user_id="u1", kind="test", title="t", body="b"),
}


@pytest.mark.parametrize("service", sorted(WRITES))
async def test_a_write_adds_a_chain_row_only_if_it_commits(settings, service):
    db = Database(settings, service)
    try:
        async with db.sessionmaker() as session:
            await WRITES[service](session)
            await session.rollback()
        assert await chain_count(settings, service) == 0
        async with db.sessionmaker() as session:
            await WRITES[service](session)
            await session.commit()
        assert await chain_count(settings, service) == 1
        async with db.sessionmaker() as session:
            report = await audit.verify(session)
        assert report.ok and report.count == 1
    finally:
        await db.close()


async def _chain_of(settings, n: int) -> asyncpg.Connection:
    db = Database(settings, "funds")
    try:
        for i in range(n):
            async with db.sessionmaker() as session:
                await audit.record(session, actor="u1", action="test.write", entity="thing", entity_id=i,
                                   diff={"amount": f"{i}.00", "名称": "测试"})
                await session.commit()
    finally:
        await db.close()
    return await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))


TAMPERING = {
    "changed diff": ("UPDATE audit_log SET diff = '{\"amount\": \"9999.00\"}' WHERE seq = 3", 3),
    "changed actor": ("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2", 2),
    "deleted middle row": ("DELETE FROM audit_log WHERE seq = 3", 3),
    "deleted last row": ("DELETE FROM audit_log WHERE seq = 5", 5),
    "swapped rows": ("UPDATE audit_log SET seq = -seq WHERE seq IN (2, 4); "
                     "UPDATE audit_log SET seq = CASE seq WHEN -2 THEN 4 ELSE 2 END WHERE seq < 0", 2),
    "rehashed row": ("UPDATE audit_log SET diff = '{}', hash = md5('x') || md5('y') WHERE seq = 4", 4),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
async def test_tampering_is_reported_with_the_first_bad_seq(settings, funds, token, case):
    sql, first_bad = TAMPERING[case]
    conn = await _chain_of(settings, 5)
    try:
        ok = (await funds.get("/api/v1/audit/events?service=funds", headers=auth(token("auditor"))))
        assert ok.status_code == 200 and len(ok.json()["items"]) == 5
        await conn.execute(sql)
    finally:
        await conn.close()
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as session:
            report = await audit.verify(session)
    finally:
        await db.close()
    assert not report.ok
    assert report.first_bad_seq == first_bad


async def test_concurrent_writers_never_wait_for_one_another_and_the_chain_stays_whole(settings):
    """Fifteen writers (the pool holds twenty) hold their transactions open at once (each has written its audit row and not committed):
    with the chain's head locked by writers this would never finish; sealed after commit, all commit, and the
    chain holds every row exactly once, linked in commit order."""
    db = Database(settings, "funds")
    written = asyncio.Barrier(15)

    async def writer(i: int) -> None:
        async with db.sessionmaker() as session:
            await audit.record(session, actor=f"u{i}", action="test.write", entity="thing", entity_id=i)
            await asyncio.wait_for(written.wait(), 10)       # every writer is inside its transaction now
            await session.commit()

    try:
        await asyncio.gather(*(writer(i) for i in range(15)))
        async with db.sessionmaker() as session:
            report = await audit.verify(session)
            await session.commit()
        conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
        try:
            seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM audit_log ORDER BY seq")]
            ids = sorted(int(r["entity_id"]) for r in await conn.fetch("SELECT entity_id FROM audit_log"))
            pending = await conn.fetchval("SELECT count(*) FROM audit_pending")
        finally:
            await conn.close()
    finally:
        await db.close()
    assert report.ok and report.count == 15
    assert seqs == list(range(1, 16)) and ids == list(range(15)) and pending == 0


async def test_a_rolled_back_write_leaves_nothing_to_seal(settings):
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as session:
            await audit.record(session, actor="u1", action="test.write", entity="thing", entity_id=1)
            await session.rollback()
        assert await audit.sweep(db.engine) == 0
        async with db.sessionmaker() as session:
            assert (await audit.verify(session)).count == 0
    finally:
        await db.close()


async def test_a_write_answers_once_its_row_is_chained_while_other_writes_keep_coming(settings):
    """Under a steady stream of commits the sealer never falls idle: a writer still answers after one more round
    (its row chained), not when the stream stops."""
    db = Database(settings, "funds")
    streaming = True

    async def stream(k: int) -> int:
        n = 0
        while streaming and n < 2_000:
            async with db.sessionmaker() as session:
                await audit.record(session, actor=f"s{k}", action="test.stream", entity="thing", entity_id=n)
                await session.commit()          # kicks the sealer, does not wait for it
            n += 1
        return n

    try:
        streams = [asyncio.create_task(stream(k)) for k in range(3)]
        await asyncio.sleep(0.3)
        async with db.sessionmaker() as session:
            await audit.record(session, actor="u1", action="test.write", entity="thing", entity_id="mine")
            await session.commit()
            await asyncio.wait_for(audit.sealed(session), 30)
        still_streaming = not any(t.done() for t in streams)
        conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
        try:
            chained = await conn.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = 'mine'")
        finally:
            await conn.close()
        streaming = False
        sent = sum(await asyncio.gather(*streams))
        async with db.sessionmaker() as session:
            report = await audit.verify(session)
    finally:
        await db.close()
    assert chained == 1 and still_streaming
    assert report.ok and report.count == sent + 1
