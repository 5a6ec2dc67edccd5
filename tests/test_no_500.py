"""No input yields a 500: every route of every service answers hostile input with a 4xx problem."""

import json
import re

import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from shared.testing import auth, make_token, running
from tests.conftest import _service_app

SERVICES = ["gateway", "registry", "funds", "notifications"]
NUL = "a\u0000b"
LONG = "长" * 10_000
HOSTILE_JSON = {  # raw JSON texts, so 1e309 and huge integers reach the server as sent
    "nul": json.dumps(NUL),
    "1e309": "1e309",
    "-1e309": "-1e309",
    "10 kB string": json.dumps(LONG),
    "int beyond int64": str(2**70),
    "negative int beyond int64": str(-(2**70)),
    "nested": '{"a": [[[[{"b": null}]]]]}',
}
MALFORMED = [b'{"code": ', b"\xff\xfe\x00", b"[1, 2", b"null", b'"string"', b"{" * 5000]
PATH_VALUES = ["0", "-1", "99999999999999999999999", "%00", "a" * 300, "1e309", "%E4%B8%AD"]


def base_value(schema: dict, components: dict):
    if "$ref" in schema:
        return base_value(components[schema["$ref"].split("/")[-1]], components)
    if "anyOf" in schema:
        return base_value(next((s for s in schema["anyOf"] if s.get("type") != "null"), {}), components)
    if "examples" in schema and schema["examples"]:
        return schema["examples"][0]
    t = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if t == "object" or "properties" in schema:
        return {k: base_value(v, components) for k, v in schema.get("properties", {}).items()}
    return {"string": "测试", "integer": 1, "number": 1, "boolean": True, "array": []}.get(t, "x")


def all_routes(routes) -> list[APIRoute]:
    """Every APIRoute, including those inside included routers and those hidden from the schema."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += all_routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            found += all_routes(route.routes)
    return found


def bodies(route: APIRoute):
    params = route.dependant.body_params
    if not params:
        return
    if len(params) == 1 and not route.dependant.body_params[0].field_info.embed:
        schema = TypeAdapter(params[0].field_info.annotation).json_schema(ref_template="#/$defs/{model}")
    else:
        schema = {"type": "object", "properties": {
            p.alias: TypeAdapter(p.field_info.annotation).json_schema(ref_template="#/$defs/{model}") for p in params}}
    components = schema.get("$defs", {})
    for p in schema.get("properties", {}).values():
        components |= p.pop("$defs", {}) if isinstance(p, dict) else {}
    yield from hostile_bodies(base_value(schema, components))


def hostile_bodies(base):
    """The base body, malformed bodies, and the base with each field in turn replaced by each hostile value."""
    yield "base", json.dumps(base).encode()
    for raw in MALFORMED:
        yield f"malformed {raw[:10]!r}", raw
    if isinstance(base, dict):
        for field in base:
            for name, text in HOSTILE_JSON.items():
                marker = "__HOSTILE__"
                yield f"{field}={name}", json.dumps(base | {field: marker}).replace(f'"{marker}"', text).encode()


def paths(route: APIRoute):
    names = re.findall(r"{(\w+)}", route.path_format)
    if not names:
        yield route.path_format
        return
    for value in PATH_VALUES:
        path = route.path_format
        for n in names:
            path = path.replace("{" + n + "}", value)
        yield path


@pytest.mark.parametrize("service", SERVICES)
async def test_hostile_input_never_yields_a_500(settings, token, service):
    apps = {name: _service_app(name, settings) for name in SERVICES}
    app = apps[service]
    # health answers 503 by design when a dependency is down; the gateway's proxy route is walked per service
    routes = [r for r in all_routes(app.router.routes)
              if r.path not in ("/docs", "/docs/oauth2-redirect", "/readyz", "/readyz/services")
              and ":path}" not in r.path]
    assert len(routes) >= 4, [r.path for r in routes]
    service_token = make_token(settings, role="service", region="", sub="svc:test")
    checked = 0
    async with running(apps, settings) as clients:
        client = clients[service]
        for route in routes:
            method = sorted(route.methods)[0]
            headers = auth(service_token if route.path.startswith("/internal") else token())
            for path in paths(route):
                if method in ("GET", "DELETE", "HEAD"):
                    for query in ("", "?limit=1e309&cursor=%00", "?limit=0", "?cursor=!!!&year=99999999999999999999",
                                  "?after=-5&entity=" + "x" * 300, "?region=%00&status=nope"):
                        r = await client.request(method, path + query, headers=headers)
                        checked += 1
                        assert r.status_code < 500, (method, path + query, r.text)
                        if r.status_code >= 400 and not path.endswith(".html") and path != "/public":
                            assert r.headers["content-type"] == "application/problem+json", (method, path, r.text)
                    continue
                for label, body in list(bodies(route)) or [("empty", b"")]:
                    r = await client.request(method, path, content=body,
                                             headers=headers | {"content-type": "application/json"})
                    checked += 1
                    assert r.status_code < 500, (method, path, label, r.text)
                    if r.status_code >= 400:
                        assert r.headers["content-type"] == "application/problem+json", (method, path, label)
                        assert {"type", "title", "status", "detail"} <= r.json().keys()
    assert checked >= 30


def _b64(raw: str) -> str:
    import base64
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# what a cursor decodes to when it was not issued here: each list must answer 400, never run it as a query
FORGED_CURSORS = [_b64(k) for k in ('{"id":1e999}', '{"id":"a"}', '{"id":[1]}', '{"id":-1}', f'{{"id":{2**70}}}',
                                     '{"id":true}', '{"loan_no":5}', '{"at":"x","id":"y"}', '{"funds":"a"}',
                                     '{"id":1,"x":2}', '[1]', '"id"', '{"' + "a" * 300 + '":1}')] + ["!!!"]


@pytest.mark.parametrize("service", SERVICES)
async def test_a_forged_cursor_is_a_400_on_every_list(settings, token, service):
    apps = {name: _service_app(name, settings) for name in SERVICES}
    lists = [r for r in all_routes(apps[service].router.routes) if "GET" in r.methods and "{" not in r.path
             and any(p.name == "cursor" for p in r.dependant.query_params)]
    assert lists, "no cursor-paginated list found"
    service_token = make_token(settings, role="service", region="", sub="svc:test")
    async with running(apps, settings) as clients:
        for route in lists:
            headers = auth(service_token if route.path.startswith("/internal") else
                           token(role="bank", sub="client-nxrcu", bank="NXRCU") if route.path.startswith("/api/v1/bank")
                           else token())
            for cursor in FORGED_CURSORS:
                r = await clients[service].get(route.path, params={"cursor": cursor}, headers=headers)
                assert r.status_code == 400, (route.path, cursor, r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json"
