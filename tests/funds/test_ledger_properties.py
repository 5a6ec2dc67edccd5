"""Property: whatever sequence of commits, spends, releases, reversals, 调项 and two-allocation postings is asked,
the ledger refuses exactly what would overdraw an account, and its invariants hold: every entry balances, no
allocation account is below zero, an account's balance is the sum of its lines, an allocation's amount is
available + committed + spent, and a source's balance is minus what its allocations hold."""

import asyncio
from decimal import Decimal

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import text

from services.funds.allocations import service as allocations
from services.funds.allocations.models import Allocation
from services.funds.glossary import EntryKind
from services.funds.ledger import service as ledger
from shared.db import Database
from shared.money import to_fen
from tests.conftest import TOWNSHIP
from tests.funds.test_allocations import source, stack  # noqa: F401  (fixtures)

AMOUNT = st.integers(min_value=1, max_value=700)
OPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["commit", "spend", "release", "pay", "adjust"]), st.integers(0, 1), AMOUNT),
    st.tuples(st.just("both"), st.integers(0, 1), AMOUNT),       # one posting of a spend from each allocation
    st.tuples(st.just("reverse"), st.integers(0, 50), st.just(0)),
), min_size=1, max_size=14)
MOVES = {"commit": ("available", "committed"), "spend": ("committed", "spent"), "release": ("committed", "available"),
         "pay": ("available", "spent")}
KINDS = {"commit": EntryKind.commit, "spend": EntryKind.spend, "release": EntryKind.release, "pay": EntryKind.spend}


class Model:
    """What the balances must be: an entry goes through iff no allocation account would fall below zero."""

    def __init__(self) -> None:
        self.balance: dict[int, int] = {}
        self.source_accounts: set[int] = set()
        self.entries: list[tuple[int, list[tuple[int, int]]]] = []       # (entry id, lines) open to reversal

    def fits(self, lines) -> bool:
        after = dict(self.balance)
        for acc, fen in lines:
            after[acc] = after.get(acc, 0) + fen
        return all(v >= 0 for acc, v in after.items() if acc not in self.source_accounts)

    def apply(self, lines) -> None:
        for acc, fen in lines:
            self.balance[acc] = self.balance.get(acc, 0) + fen


async def _allocation(s, source_id: int, purpose: str, fen: int, model: Model) -> dict[str, int]:
    a = await allocations._new_allocation(s, actor="u-test", source_id=source_id, region_code=TOWNSHIP,
                                          purpose=purpose, year=2020, doc_no="贺财〔2020〕1号", fen=fen)
    acc = {k: v["id"] for (_, k), v in (await ledger.accounts(s, [a.id])).items()} | {
        "id": a.id, "source": await ledger.source_account(s, source_id)}
    model.source_accounts.add(acc["source"])
    return acc


async def _example(db: Database, source_id: int, ops) -> None:
    model = Model()
    async with db.sessionmaker() as s:
        accs = [await _allocation(s, source_id, p, 1000, model) for p in ("industry", "health")]
        for acc in accs:
            lines = [(acc["source"], -1000), (acc["available"], 1000)]
            eid = await ledger.post(s, kind=EntryKind.allocate, ref=f"allocation:{acc['id']}", actor="u-test",
                                    lines=lines)
            model.apply(lines)
            model.entries.append((eid, lines))
        await s.commit()
    for op, i, fen in ops:
        async with db.sessionmaker() as s:
            acc = accs[i % 2]
            if op in MOVES:
                out, into = MOVES[op]
                postings = [ledger.Entry(kind=KINDS[op], ref="test", actor="u-test",
                                         lines=[(acc[out], -fen), (acc[into], fen)])]
            elif op == "both":
                postings = [ledger.Entry(kind=EntryKind.spend, ref="test", actor="u-test",
                                         lines=[(a["committed"], -fen), (a["spent"], fen)]) for a in (acc, accs[1 - i % 2])]
            elif op == "adjust":
                new = await _allocation(s, source_id, "education", fen, model)
                postings = [ledger.Entry(kind=EntryKind.adjust, ref="test", actor="u-test",
                                         lines=[(acc["available"], -fen), (new["available"], fen)])]
            else:
                if not model.entries:
                    continue
                eid, lines = model.entries[i % len(model.entries)]
                postings = [ledger.Entry(kind=EntryKind.reverse, ref=f"entry:{eid}", actor="u-test",
                                         lines=[(a, -f) for a, f in lines], reverses_id=eid)]
            expected = model.fits([line for e in postings for line in e.lines])
            try:
                if op == "reverse":
                    ids = [await ledger.reverse(s, entry_id=postings[0].reverses_id, actor="u-test", memo="")]
                else:
                    ids = await ledger.post_entries(s, postings)
                await s.commit()
            except ledger.InsufficientFunds:
                await s.rollback()
                assert not expected, (op, fen, postings)
                continue
            assert expected, (op, fen, postings)
            for e in postings:
                model.apply(e.lines)
            if op == "reverse":
                model.entries.remove((postings[0].reverses_id, [(a, -f) for a, f in postings[0].lines]))
            else:
                model.entries += [(eid, list(e.lines)) for eid, e in zip(ids, postings)]
    await _check(db, model)


async def _check(db: Database, model: Model) -> None:
    async with db.sessionmaker() as s:
        q = lambda sql: s.execute(text(sql))  # noqa: E731
        assert (await q("SELECT entry_id FROM ledger_line GROUP BY entry_id HAVING sum(amount) <> 0")).all() == []
        assert (await q("SELECT id FROM ledger_account WHERE kind <> 'source' AND balance < 0")).all() == []
        assert (await q("SELECT a.id FROM ledger_account a LEFT JOIN ledger_line l ON l.account_id = a.id "
                        "GROUP BY a.id HAVING a.balance <> coalesce(sum(l.amount), 0)")).all() == []
        assert (await q("SELECT s.id FROM ledger_account s WHERE s.kind = 'source' AND s.balance <> -(SELECT "
                        "coalesce(sum(a.balance), 0) FROM ledger_account a WHERE a.source_id = s.source_id "
                        "AND a.kind <> 'source')")).all() == []
        balances = dict((await q("SELECT id, balance FROM ledger_account")).all())
        assert {acc: balances[acc] for acc in model.balance if acc not in model.source_accounts} == {
            acc: v for acc, v in model.balance.items() if acc not in model.source_accounts}
        for a in (await s.execute(text("SELECT id FROM allocation"))).scalars():
            read = await allocations.read(s, await s.get(Allocation, a))
            assert to_fen(read.amount) == to_fen(read.available) + to_fen(read.committed) + to_fen(read.spent)
            assert read.amount >= Decimal(0)


async def test_random_postings_keep_the_ledger_whole(stack, settings, source):  # noqa: F811
    def run() -> None:
        loop = asyncio.new_event_loop()
        db = Database(settings, "funds", pool_size=2)

        @hsettings(max_examples=35, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])
        @given(ops=OPS)
        def example(ops) -> None:
            loop.run_until_complete(_example(db, source, ops))

        try:
            example()
        finally:
            loop.run_until_complete(db.close())
            loop.close()

    await asyncio.to_thread(run)
