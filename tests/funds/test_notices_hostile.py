"""No input yields a 500 on the 公示 routes: each route of the schema (and the internal one) with hostile
paths, queries and bodies answers 2xx or a 4xx problem (HTML pages may answer their own 404 page)."""

import json
import re

from services.funds.app import create
from services.funds.notices.schemas import NoticeOpen
from shared.testing import app_client, auth, make_token
from tests.funds.conftest import notice_body
from tests.test_no_500 import HOSTILE_JSON, PATH_VALUES, base_value, hostile_bodies

PREFIXES = ("/public", "/api/v1/notices", "/api/v1/objections")
QUERIES = ("", "?limit=1e309&cursor=%00", "?limit=0", "?cursor=!!!&region=99999999999999999999",
           "?region=640122000000&status=nope", "?cursor=" + "x" * 600, "?cursor=eyJpZCI6ICJ4In0",
           "?cursor=W10", "?region=%00")


def _bodies(schema: dict, components: dict, base=None):
    return hostile_bodies(base if base is not None else base_value(schema, components))


def _paths(template: str):
    if "{" not in template:
        yield template
        return
    for value in [*PATH_VALUES, "1", "2"]:
        yield re.sub(r"{\w+}", value, template)


def _check(r, *what):
    assert r.status_code < 500, (*what, r.text[:300])
    if r.status_code >= 400 and not r.headers["content-type"].startswith("text/html"):
        assert r.headers["content-type"] == "application/problem+json", what
        assert {"type", "title", "status", "detail"} <= r.json().keys(), what


async def test_hostile_input_on_notice_routes_never_yields_a_500(settings, token):
    app = create(settings)
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    service = auth(make_token(settings, role="service", region="", sub="svc:registry"))
    checked = 0
    async with app_client(app, token=token()) as client:
        assert (await client.post("/internal/notices", json=notice_body(), headers=service)).status_code == 201
        for template, item in spec["paths"].items():
            if not template.startswith(PREFIXES):
                continue
            for method, op in item.items():
                for path in _paths(template):
                    if method == "get":
                        for query in QUERIES:
                            r = await client.get(path + query)
                            _check(r, method, path + query)
                            checked += 1
                        continue
                    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                    cases = list(_bodies(schema, components)) if schema else [("empty", b"")]
                    for label, body in cases:
                        for ctype in ("application/json", "application/x-www-form-urlencoded"):
                            r = await client.request(method.upper(), path, content=body,
                                                     headers={"content-type": ctype, "x-forwarded-for": f"58.1.1.{checked % 250}"})
                            _check(r, method, path, label, ctype)
                            checked += 1
        # the internal route is not in the schema: walk it from its model
        for label, body in _bodies(NoticeOpen.model_json_schema(), {}, base=notice_body()):
            r = await client.post("/internal/notices", content=body,
                                  headers={"content-type": "application/json", **service})
            _check(r, "post", "/internal/notices", label)
            checked += 1
        for item_field, text in HOSTILE_JSON.items():
            body = notice_body(requester_ref=f"hostile-{item_field}")
            raw = json.dumps(body | {"items": [body["items"][0] | {"memo": "__H__", "amount": "__A__"}]})
            for payload in (raw.replace('"__H__"', text).replace('"__A__"', '"1.00"'),
                            raw.replace('"__A__"', text).replace('"__H__"', '"x"')):
                r = await client.post("/internal/notices", content=payload.encode(),
                                      headers={"content-type": "application/json", **service})
                _check(r, "post", "/internal/notices", item_field)
                checked += 1
    assert checked > 500
