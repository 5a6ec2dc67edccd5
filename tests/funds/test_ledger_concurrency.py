"""The ledger under real concurrency: simultaneous spends of one allocation end exactly at what it holds, and
payments drawing on two allocations in opposite orders never deadlock (one lock order for every posting)."""

import asyncio

import asyncpg
import pytest

from services.funds.allocations.models import Allocation
from services.funds.app import create as create_funds
from services.funds.glossary import EntryKind
from services.funds.ledger import service as ledger
from services.registry.app import create as create_registry
from shared.db import Database, asyncpg_dsn, database_name
from shared.testing import auth, running
from tests.conftest import TOWNSHIP, VILLAGE
from tests.funds.test_allocations import allocate, source, stack  # noqa: F401  (fixtures)
from tests.registry.conftest import make_regions

FINANCE = {"role": "finance_officer", "sub": "u-finance"}


async def test_fifty_simultaneous_spends_end_exactly_at_the_money(stack, token, source, settings):  # noqa: F811
    """30.00 affordable spends of 1.00 (and 20 more asked at once): 30 go through, 20 are refused, none lost."""
    a = await allocate(stack, token, source, amount="30.00")
    db = Database(settings, "funds", pool_size=25)
    try:
        async with db.sessionmaker() as s:
            acc = await ledger.accounts(s, [a["id"]])
        start = asyncio.Event()

        async def spend(n: int) -> str:
            async with db.sessionmaker() as s:
                await start.wait()
                try:
                    await ledger.post(s, kind=EntryKind.spend, ref=f"test:{n}", actor="u-finance",
                                      lines=[(acc[(a["id"], "available")]["id"], -100),
                                             (acc[(a["id"], "spent")]["id"], 100)])
                    await asyncio.sleep(0.005)          # hold the lock a moment: the others must wait on it
                    await s.commit()
                    return "paid"
                except ledger.InsufficientFunds:
                    await s.rollback()
                    return "refused"

        tasks = [asyncio.create_task(spend(n)) for n in range(50)]
        await asyncio.sleep(0.05)
        start.set()
        outcomes = await asyncio.gather(*tasks)
    finally:
        await db.close()
    assert (outcomes.count("paid"), outcomes.count("refused")) == (30, 20)
    got = (await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token()))).json()
    assert (got["available"], got["spent"], got["amount"]) == ("0.00", "30.00", "30.00")
    items = (await stack.get(f"/api/v1/allocations/{a['id']}/entries?limit=500", headers=auth(token()))).json()
    assert [e["kind"] for e in items["items"]].count("spend") == 30


async def _deadlocks(conn: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")


async def test_payments_across_two_allocations_in_opposite_orders_never_deadlock(settings, token):
    """P1 is funded from X, Y, X, Y…, P2 from Y, X, Y, X…; every payment draws on one funding of each. 40
    affordable payments at once all go through, and PostgreSQL counts no deadlock."""
    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        async with running(apps, settings) as clients:
            funds = clients["funds"]
            await make_regions(clients["registry"], auth(token()))
            src = (await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
                "name": "2020年中央财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕1号",
                "year": 2020})).json()["id"]
            x, y = [(await funds.post("/api/v1/allocations", headers=auth(token()), json={
                "source_id": src, "region_code": TOWNSHIP, "purpose": "industry", "amount": "2000.00",
                "year": 2020, "doc_no": f"贺财〔2020〕{n}号"})).json()["id"] for n in (1, 2)]
            projects = []
            for order in ((x, y), (y, x)):
                r = await funds.post("/api/v1/projects", headers=auth(token()), json={
                    "name": "欣荣村肉牛养殖基地", "purpose": "industry", "village_code": VILLAGE, "budget": "2000.00"})
                pid = r.json()["id"]
                assert (await funds.post(f"/api/v1/projects/{pid}/transitions", headers=auth(token()),
                                         json={"action": "approve"})).status_code == 200
                for n in range(40):
                    r = await funds.post(f"/api/v1/projects/{pid}/fundings", headers=auth(token(**FINANCE)),
                                         json={"allocation_id": order[n % 2], "amount": "50.00"})
                    assert r.status_code == 201, r.text
                for action in ("start", "inspect", "accept"):
                    assert (await funds.post(f"/api/v1/projects/{pid}/transitions", headers=auth(token()),
                                             json={"action": action})).status_code == 200
                projects.append(pid)
            before = await _deadlocks(conn)
            answers = await asyncio.gather(*(
                funds.post(f"/api/v1/projects/{pid}/payments", headers=auth(token(**FINANCE)),
                           json={"amount": "100.00", "payee": "贺兰县建工公司", "stage": "progress"})
                for _ in range(20) for pid in projects))
            assert [r.status_code for r in answers] == [201] * 40, [r.text for r in answers if r.status_code != 201]
            assert all(len(r.json()["entry_ids"]) == 2 for r in answers)      # each drew on X and on Y
            for aid in (x, y):
                got = (await funds.get(f"/api/v1/allocations/{aid}", headers=auth(token()))).json()
                assert (got["available"], got["committed"], got["spent"]) == ("0.00", "0.00", "2000.00")
            await apps["funds"].state.db.engine.dispose()      # its backends leave: their statistics are flushed
        await asyncio.sleep(0.2)
        assert await _deadlocks(conn) == before
    finally:
        await conn.close()


async def test_one_posting_of_several_entries_is_all_or_nothing(stack, token, source, settings):  # noqa: F811
    """Entries posted together stand or fall together: one short account refuses them all."""
    a, b = await allocate(stack, token, source, amount="10.00"), await allocate(stack, token, source, amount="5.00")
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as s:
            acc = await ledger.accounts(s, [a["id"], b["id"]])
            with pytest.raises(ledger.InsufficientFunds):
                await ledger.post_entries(s, [
                    ledger.Entry(kind=EntryKind.commit, ref="test", actor="u", lines=[
                        (acc[(aid, "available")]["id"], -fen), (acc[(aid, "committed")]["id"], fen)])
                    for aid, fen in ((a["id"], 1000), (b["id"], 501))])
            await s.rollback()
            assert (await s.get(Allocation, a["id"])) is not None
    finally:
        await db.close()
    for aid, amount in ((a["id"], "10.00"), (b["id"], "5.00")):
        got = (await stack.get(f"/api/v1/allocations/{aid}", headers=auth(token()))).json()
        assert (got["available"], got["committed"]) == (amount, "0.00")
