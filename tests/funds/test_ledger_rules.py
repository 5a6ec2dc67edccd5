"""The database's own rules answer at posting time: an entry across purposes is refused by ``ledger.post`` itself
(409 earmark-violation carrying who tried what), not later at commit."""

import pytest

from services.funds.glossary import EntryKind
from services.funds.ledger import service as ledger
from shared.db import Database
from tests.funds.test_allocations import allocate, source, stack  # noqa: F401  (fixtures)


async def test_an_entry_across_purposes_is_refused_when_posted(stack, token, source, settings):  # noqa: F811
    a = await allocate(stack, token, source)
    b = await allocate(stack, token, source, purpose="health")
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as s:
            acc = await ledger.accounts(s, [a["id"], b["id"]])
            with pytest.raises(ledger.EarmarkViolation) as refused:
                await ledger.post(s, kind=EntryKind.commit, ref="project:9", actor="u-rogue",
                                  lines=[(acc[(a["id"], "available")]["id"], -100),
                                         (acc[(b["id"], "committed")]["id"], 100)])
            await s.rollback()
            record = refused.value.audit_record
            assert (record["actor"], record["action"], record["entity_id"]) == ("u-rogue", "ledger.refused",
                                                                                "project:9")
            assert record["diff"]["entries"][0]["lines"] == [[acc[(a["id"], "available")]["id"], -100],
                                                             [acc[(b["id"], "committed")]["id"], 100]]
            # the same accounts within one purpose post at once, and the session goes on
            entry = await ledger.post(s, kind=EntryKind.commit, ref="project:9", actor="u-finance",
                                      lines=[(acc[(a["id"], "available")]["id"], -100),
                                             (acc[(a["id"], "committed")]["id"], 100)])
            await s.commit()
            assert entry > 0
    finally:
        await db.close()
    got = (await stack.get(f"/api/v1/allocations/{a['id']}", headers={"Authorization": f"Bearer {token()}"})).json()
    assert (got["available"], got["committed"]) == ("999.00", "1.00")
    untouched = (await stack.get(f"/api/v1/allocations/{b['id']}",
                                 headers={"Authorization": f"Bearer {token()}"})).json()
    assert (untouched["available"], untouched["committed"]) == ("1000.00", "0.00")
