"""Redis goes down in the middle of the day: cadres keep working, and nothing they did is lost or doubled."""

import asyncio

import pytest
from arq.worker import Worker

from services.gateway.app import create as create_gateway
from services.notifications import worker as notifications_worker
from services.registry.app import create as create_registry
from services.notifications.app import create as create_notifications
from shared import outbox
from shared.testing import auth, running
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE
from tests.registry.conftest import household

ADMIN_PASSWORD = "Helan-admin-2024"


async def login(gw, username: str, password: str) -> dict[str, str]:
    r = await gw.post("/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return auth(r.json()["access_token"])


async def test_helper_assignment_during_a_redis_outage_reaches_the_helper_once(settings, own_redis):
    settings = settings.model_copy(update={"redis_url": own_redis.url, "admin_password": ADMIN_PASSWORD})
    apps = {"gateway": create_gateway(settings), "registry": create_registry(settings),
            "notifications": create_notifications(settings)}
    async with running(apps, settings) as c:
        gw, reg = c["gateway"], c["registry"]
        admin = await login(gw, "admin", ADMIN_PASSWORD)
        for code, name in ((COUNTY, "贺兰县"), (TOWNSHIP, "洪广镇"), (VILLAGE, "欣荣村")):
            assert (await reg.post("/api/v1/regions", json={"code": code, "name": name}, headers=admin)).status_code == 201
        r = await gw.post("/api/v1/auth/users", headers=admin, json={
            "username": "helper.li", "password": "Helper-pass-2020", "display_name": "李帮扶", "phone": "13995112233",
            "role": "helper", "region_code": VILLAGE})
        assert r.status_code == 201, r.text
        helper_id = r.json()["id"]
        helper = await login(gw, "helper.li", "Helper-pass-2020")
        home = (await reg.post("/api/v1/households", json=household(), headers=admin)).json()

        own_redis.stop()
        # the write succeeds: the registry asks the gateway about revocations instead of Redis
        r = await reg.put(f"/api/v1/households/{home['id']}/helper", json={"user_id": helper_id}, headers=admin)
        assert r.status_code == 200, r.text
        relay = outbox.Relay(settings=settings, service="registry", sessionmaker=apps["registry"].state.db.sessionmaker)
        with pytest.raises(Exception):
            await relay.relay_once()

        own_redis.start()
        assert await relay.drain() >= 1
        await run_notifications_worker(settings)
        await run_notifications_worker(settings)      # a second pass finds nothing new to do
        inbox = (await c["notifications"].get("/api/v1/me/notifications", headers=helper)).json()["items"]
        assert len(inbox) == 1 and inbox[0]["kind"] == "helper.assigned"
        assert home["household_no"] in inbox[0]["body"]


async def run_notifications_worker(settings) -> None:
    worker = Worker(**{**notifications_worker.settings(settings), "burst": True, "handle_signals": False,
                       "poll_delay": 0.01})
    try:
        await asyncio.wait_for(worker.main(), 30)
    finally:
        await worker.close()
