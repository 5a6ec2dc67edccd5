"""No input yields a 500: every route of every service answers hostile input with a 4xx problem."""

import json
import re

import pytest
from fastapi.routing import APIRoute

from shared.testing import app_client, auth
from tests.conftest import _service_app

SERVICES = ["registry", "funds", "notifications"]
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
    t = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if t == "object" or "properties" in schema:
        return {k: base_value(v, components) for k, v in schema.get("properties", {}).items()}
    return {"string": "测试", "integer": 1, "number": 1, "boolean": True, "array": []}.get(t, "x")


def bodies(route: APIRoute, openapi: dict):
    op = openapi["paths"][route.path_format][next(iter(route.methods)).lower()]
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return
    components = openapi.get("components", {}).get("schemas", {})
    base = base_value(schema, components)
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
    app = _service_app(service, settings)
    openapi = app.openapi()
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert routes
    checked = 0
    async with app_client(app, token=token()) as client:
        for route in routes:
            method = next(iter(route.methods))
            for path in paths(route):
                if method in ("GET", "DELETE"):
                    for query in ("", "?limit=1e309&cursor=%00", "?limit=0", "?cursor=!!!&year=99999999999999999999",
                                  "?after=-5&entity=" + "x" * 300):
                        r = await client.request(method, path + query)
                        checked += 1
                        assert r.status_code < 500, (method, path + query, r.text)
                        if r.status_code >= 400:
                            assert r.headers["content-type"] == "application/problem+json", (method, path, r.text)
                    continue
                for label, body in list(bodies(route, openapi)) or [("empty", b"")]:
                    r = await client.request(method, path, content=body, headers={"content-type": "application/json"})
                    checked += 1
                    assert r.status_code < 500, (method, path, label, r.text)
                    if r.status_code >= 400:
                        assert r.headers["content-type"] == "application/problem+json", (method, path, label)
                        assert {"type", "title", "status", "detail"} <= r.json().keys()
    assert checked >= 10
