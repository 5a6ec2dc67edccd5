"""Hostile input against real households (test_no_500 walks the routes with ids that do not exist; this walks
them with ids that do, so the bodies reach the rules and the database)."""

import json

from shared.testing import app_client, auth
from tests.conftest import _service_app
from tests.test_no_500 import all_routes, bodies

EXTRA = {
    "visited_at": ['"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59-14:00"', '"2024-02-30T00:00:00Z"'],
    "year": ["1", "99999", "-1"],
    "id_number": ['"640122198001011234\\u0000"', '"ＸＸ"', "12345678901234567"],
    "user_id": ["0", "-5", str(2**63)],
    "household_ids": ["[]", "[0]", json.dumps([2**63]), json.dumps(list(range(1, 10_002)))],
}


async def test_hostile_bodies_on_existing_households(registry, token, create, settings):
    h = await create()
    member_id = h["members"][1]["id"]
    app = _service_app("registry", settings)
    checked = 0
    async with app_client(app) as client:
        for route in all_routes(app.router.routes):
            method = sorted(route.methods)[0]
            if method in ("GET", "HEAD") or "{" in route.path_format.replace("{household_id}", "").replace(
                    "{member_id}", "").replace("{year}", ""):
                continue
            path = (route.path_format.replace("{household_id}", str(h["id"])).replace("{member_id}", str(member_id))
                    .replace("{year}", "2020"))
            variants = list(bodies(route)) or [("empty", b"")]
            base = next((b for label, b in variants if label == "base"), None)
            if base is not None and isinstance(json.loads(base), dict):
                for field, raws in EXTRA.items():
                    for raw in raws:
                        marker = "__X__"
                        variants.append((f"{field}={raw[:20]}", json.dumps(json.loads(base) | {field: marker})
                                         .replace(f'"{marker}"', raw).encode()))
            for label, body in variants:
                for tok in (token(), token("service", "", sub="svc:funds")):
                    r = await client.request(method, path, content=body,
                                             headers={**auth(tok), "content-type": "application/json"})
                    checked += 1
                    upstream = r.status_code == 503 and "unreachable" in r.json()["detail"]   # no gateway/funds here
                    assert r.status_code < 500 or upstream, (method, path, label, r.text)
                    if r.status_code >= 400:
                        assert r.headers["content-type"] == "application/problem+json", (method, path, label)
    assert checked > 200
    # and the household is still whole
    got = await registry.get(f"/api/v1/households/{h['id']}", headers=auth(token()))
    assert got.status_code == 200 and got.json()["members"][0]["relation"] == "head"
