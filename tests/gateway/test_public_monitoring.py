"""一码申报 through the gateway: no token needed under ``/public/monitoring``, routed to the registry, and each villager
counted by their own address (the gateway forwards it in ``X-Forwarded-For``)."""

from tests.conftest import COUNTY, TOWNSHIP, VILLAGE
from tests.registry.conftest import new_id
from tests.registry.test_monitoring_reports import address, report


async def test_a_villager_reports_without_a_token_and_is_rate_limited_by_their_own_address(stack):
    admin = await stack.bearer()
    for code, name in ((COUNTY, "贺兰县"), (TOWNSHIP, "洪广镇"), (VILLAGE, "欣荣村")):
        r = await stack.client.post("/api/v1/regions", headers=admin,
                                    json={"code": code, "name": name, "rural_population": 1000})
        assert r.status_code == 201, r.text
    r = await stack.client.get(f"/public/monitoring/report?village={VILLAGE}")
    assert r.status_code == 200 and "欣荣村" in r.text
    first, second = address(), address()
    for _ in range(5):
        r = await stack.client.post("/public/monitoring/reports", json=report(new_id()), headers=first)
        assert r.status_code == 202, r.text
        assert r.json().keys() == {"received", "reference"}
    r = await stack.client.post("/public/monitoring/reports", json=report(new_id()), headers=first)
    assert r.status_code == 429
    r = await stack.client.post("/public/monitoring/reports", json=report(new_id()), headers=second)
    assert r.status_code == 202
    # the officers' side still needs a token
    assert (await stack.client.get("/api/v1/monitoring/reports")).status_code == 401
