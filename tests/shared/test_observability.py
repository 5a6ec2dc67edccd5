"""Request ids and metrics on every service (the middleware the hot paths go through)."""

from services.registry.app import create
from shared.testing import app_client


async def test_requests_are_counted_by_route_and_status_and_carry_a_request_id(settings):
    async with app_client(create(settings)) as client:
        for _ in range(2):
            assert (await client.get("/healthz")).status_code == 200
        r = await client.get("/api/v1/households/7", headers={"X-Request-ID": "rid-from-caller"})
        assert r.status_code == 401 and r.headers["x-request-id"] == "rid-from-caller"
        assert len((await client.get("/healthz")).headers["x-request-id"]) == 32
        text = (await client.get("/metrics")).text
    assert ('jingzhun_http_requests_total{method="GET",route="/healthz",service="registry",status="200"} 3.0'
            in text)
    assert ('jingzhun_http_requests_total{method="GET",route="/api/v1/households/{household_id}",'
            'service="registry",status="401"} 1.0' in text)
    assert 'jingzhun_http_request_seconds_count{route="/healthz",service="registry"} 3.0' in text
