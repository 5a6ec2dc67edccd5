"""The 公示 round trip with the real funds service in-process: the registry opens the notice over REST, an
officer closes (or withdraws) it in funds, funds' ``notice.closed`` outbox row reaches the registry's worker."""

import pytest
from sqlalchemy import text

from shared.db import Database
from shared.outbox import envelope
from shared.testing import auth, running
from tests.conftest import VILLAGE
from tests.registry.conftest import apply_event, household, make_regions


@pytest.fixture
async def with_funds(settings, token):
    from services.funds.app import create as create_funds
    from services.registry.app import create as create_registry
    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    async with running(apps, settings) as clients:
        await make_regions(clients["registry"], auth(token()))
        yield clients


async def deliver_funds_events(settings) -> int:
    """What the funds relay and the registry worker do: every unsent funds event for the registry, dispatched."""
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as s:
            rows = (await s.execute(text("SELECT event_id, topic, destinations, payload, created_at FROM outbox "
                                         "WHERE sent_at IS NULL AND 'registry' = ANY(destinations) ORDER BY id"))).all()
            await s.execute(text("UPDATE outbox SET sent_at = now() WHERE 'registry' = ANY(destinations)"))
            await s.commit()
    finally:
        await db.close()
    return sum([await apply_event(settings, envelope(r, "funds")) for r in rows])


async def test_registration_and_a_withdrawn_notice_with_funds(with_funds, token, settings):
    registry, funds = with_funds["registry"], with_funds["funds"]
    admin = auth(token())
    ids = []
    for _ in range(2):
        r = await registry.post("/api/v1/households", json=household(), headers=admin)
        ids.append(r.json()["id"])
    notices = []
    for hid in ids:
        r = await registry.post(f"/api/v1/households/{hid}/transitions", json={"action": "propose_registration"},
                                headers=admin)
        assert r.status_code == 200, r.text
        notices.append(r.json()["pending_action"]["notice_id"])

    public = (await funds.get(f"/public/notices/{notices[0]}")).json()
    assert public["kind"] == "registration" and public["region_code"] == VILLAGE
    [item] = public["items"]
    assert item["ref"] == str(ids[0]) and item["name"] == "马建国" and "*" in item["id_number"]

    r = await funds.post(f"/api/v1/notices/{notices[0]}/close", headers=admin)
    assert r.status_code == 200, r.text
    r = await funds.post(f"/api/v1/notices/{notices[1]}/withdraw", json={"reason": "材料不全，重新评议"},
                         headers=admin)
    assert r.status_code == 200, r.text
    assert await deliver_funds_events(settings) == 2

    first = (await registry.get(f"/api/v1/households/{ids[0]}", headers=admin)).json()
    second = (await registry.get(f"/api/v1/households/{ids[1]}", headers=admin)).json()
    assert first["status"] == "registered" and first["pending_action"] is None
    assert second["status"] == "pending" and second["pending_action"] is None
