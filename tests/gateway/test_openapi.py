from services.funds.app import create as create_funds
from services.gateway.openapi import merge
from tests.conftest import COUNTY
from tests.gateway.test_proxy import echo_app


async def test_docs_hold_every_service_and_authorize_uses_the_password_flow(stack):
    spec = (await stack.client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert "/api/v1/auth/token" in paths and "/api/v1/auth/users" in paths
    assert "/api/v1/regions" in paths and "/api/v1/regions/{code}" in paths      # from the registry
    assert not any(p.startswith("/internal") for p in paths)
    assert not any(p in ("/healthz", "/readyz", "/metrics") for p in paths)
    schemes = spec["components"]["securitySchemes"]
    assert list(schemes) == ["OAuth2PasswordBearer"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert paths["/api/v1/regions"]["post"]["security"] == [{"OAuth2PasswordBearer": []}]
    # every $ref points at a component that exists
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                refs.add(v) if k == "$ref" else walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)
    for ref in refs:
        _, _, section, name = ref.split("/")
        assert name in spec["components"][section], ref
    docs = await stack.client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


async def test_a_service_that_starts_late_is_added_to_the_docs(make_stack):
    async with make_stack(with_registry=False) as stack:
        spec = (await stack.client.get("/openapi.json")).json()
        assert "/api/v1/regions" not in spec["paths"] and "registry" in spec["info"]["x-missing-services"]
        assert "/api/v1/auth/token" in spec["paths"]


def test_colliding_component_names_are_prefixed_and_references_rewritten():
    own = {"openapi": "3.1.0", "paths": {}, "components": {"schemas": {
        "Page": {"type": "object", "properties": {"items": {"type": "array"}}},
        "Shared": {"type": "string"}}}}
    registry = {"paths": {"/api/v1/households": {"get": {"responses": {"200": {"content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Wrapper"}}}}}, "security": [{"Other": []}]}},
        "/internal/x": {"get": {}}},
        "components": {"schemas": {
            "Page": {"type": "object", "properties": {"household": {"type": "string"}}},
            "Wrapper": {"type": "object", "properties": {"page": {"$ref": "#/components/schemas/Page"}}},
            "Shared": {"type": "string"}},
            "securitySchemes": {"Other": {"type": "http", "scheme": "bearer"}}}}
    funds = {"paths": {"/api/v1/allocations": {"get": {}}, "/api/v1/households": {"get": {"summary": "stray"}}},
             "components": {"schemas": {"Wrapper": {"type": "object", "properties": {
                 "page": {"$ref": "#/components/schemas/Page"}}}}}}
    merged = merge(own, {"registry": registry, "funds": funds})
    schemas = merged["components"]["schemas"]
    assert schemas["Page"] == own["components"]["schemas"]["Page"]
    assert schemas["registry_Page"]["properties"] == {"household": {"type": "string"}}
    assert schemas["Shared"] == {"type": "string"} and "registry_Shared" not in schemas
    # registry's Wrapper points at registry_Page; funds' Wrapper (same text, other meaning) keeps its own name
    assert schemas["Wrapper"]["properties"]["page"]["$ref"] == "#/components/schemas/Page"
    assert schemas["registry_Wrapper"]["properties"]["page"]["$ref"] == "#/components/schemas/registry_Page"
    op = merged["paths"]["/api/v1/households"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/registry_Wrapper"
    assert op["security"] == [{"OAuth2PasswordBearer": []}]
    assert "/internal/x" not in merged["paths"] and "/api/v1/allocations" in merged["paths"]
    assert list(merged["components"]["securitySchemes"]) == ["OAuth2PasswordBearer"]
    assert own["components"]["schemas"].keys() == {"Page", "Shared"}      # the input is left alone


async def test_merge_keeps_going_with_a_non_fastapi_service(make_stack):
    async with make_stack({"funds": echo_app()}) as stack:
        assert (await stack.client.get("/openapi.json")).status_code == 200


PROBLEM = "application/problem+json"
COMMON = {"400", "401", "403", "404", "422", "429"}


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                yield f"{method.upper()} {path}", op


async def test_every_error_is_documented_as_the_problem_it_is_served_as(make_stack, settings):
    async with make_stack({"funds": create_funds(settings)}) as stack:
        spec = (await stack.client.get("/openapi.json")).json()
        admin = await stack.bearer()
        # what is served: a problem, for bad JSON (400), a bad cursor (400) and an empty Idempotency-Key (400)
        served = [await stack.client.post("/api/v1/regions", headers=admin | {"content-type": "application/json"},
                                          content=b'{"code": '),
                  await stack.client.get("/api/v1/fund-sources?cursor=!!!", headers=admin),
                  await stack.client.post("/api/v1/fund-sources", headers=admin | {"Idempotency-Key": " "},
                                          json={"name": "中央财政衔接推进乡村振兴补助资金", "level": "central",
                                                "doc_no": "财农〔2021〕1号", "year": 2021})]
        body = {"name": "中央财政衔接推进乡村振兴补助资金", "level": "central", "doc_no": "财农〔2021〕2号", "year": 2021}
        key = admin | {"Idempotency-Key": "fs-1"}
        assert (await stack.client.post("/api/v1/fund-sources", headers=key, json=body)).status_code == 201
        served.append(await stack.client.post("/api/v1/fund-sources", headers=key, json=body | {"year": 2022}))
        assert [r.status_code for r in served] == [400, 400, 400, 409], [r.text for r in served]
        assert {r.headers["content-type"] for r in served} == {PROBLEM}
        assert served[-1].json()["type"].endswith("/idempotency-key-reused")
        page = await stack.client.get("/public/notices/999999.html")
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")

    # what is documented: the same, on every operation
    wrong, missing = [], []
    for name, op in operations(spec):
        responses = op["responses"]
        missing += [f"{name} {code}" for code in sorted(COMMON - responses.keys())]
        if any(p["in"] == "header" and p["name"].lower() == "idempotency-key" for p in op.get("parameters", [])):
            missing += [f"{name} 409"] if "409" not in responses else []
        for code, response in responses.items():
            if code[0] in "45":
                media = set(response.get("content", {}))
                if PROBLEM not in media or media - {PROBLEM, "text/html"}:
                    wrong.append(f"{name} {code}: {sorted(media)}")
                else:
                    assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/ProblemBody"}, f"{name} {code}"
    assert not missing, missing
    assert not wrong, wrong
    for path in ("/api/v1/fund-sources", "/api/v1/projects"):
        assert "409" in spec["paths"][path]["post"]["responses"], path
    html = spec["paths"]["/public/notices/{notice_id}.html"]["get"]["responses"]["404"]["content"]
    assert set(html) == {PROBLEM, "text/html"}
    # an objection posted from the public page's HTML form is answered with the page, whatever the outcome
    objection = spec["paths"]["/public/notices/{notice_id}/objections"]["post"]["responses"]
    assert all("text/html" in response["content"] for response in objection.values()), objection
    problem = spec["components"]["schemas"]["ProblemBody"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    # the gateway's own answers for what it proxies: 503 while a service is away
    assert "503" in spec["paths"]["/api/v1/fund-sources"]["get"]["responses"]


async def test_bank_clients_are_listed_a_page_at_a_time(stack):
    admin = await stack.bearer()
    made = []
    for code in ("NXRCB", "ICBC", "ABC"):
        r = await stack.client.post("/api/v1/auth/clients", headers=admin,
                                    json={"name": f"{code} 银行", "bank_code": code, "region_code": COUNTY})
        assert r.status_code == 201, r.text
        made.append(r.json()["client_id"])
    first = (await stack.client.get("/api/v1/auth/clients?limit=2", headers=admin)).json()
    assert [c["client_id"] for c in first["items"]] == made[:2] and first["next_cursor"]
    rest = (await stack.client.get(f"/api/v1/auth/clients?limit=2&cursor={first['next_cursor']}",
                                   headers=admin)).json()
    assert [c["client_id"] for c in rest["items"]] == made[2:] and rest["next_cursor"] is None
    bad = await stack.client.get("/api/v1/auth/clients?cursor=!!!", headers=admin)
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
    assert (await stack.client.get("/api/v1/auth/clients?limit=501", headers=admin)).status_code == 422
    spec = (await stack.client.get("/openapi.json")).json()
    op = spec["paths"]["/api/v1/auth/clients"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"limit", "cursor"}
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    page = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"items", "next_cursor"}


async def test_a_banks_developer_sees_how_to_get_a_token_and_what_goes_wrong(stack):
    op = (await stack.client.get("/openapi.json")).json()["paths"]["/api/v1/auth/token"]["post"]
    form = op["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["examples"]["client_credentials"]["value"]["grant_type"] == "client_credentials"
    assert set(op["responses"]["200"]["content"]["application/json"]["example"]) >= {
        "access_token", "token_type", "expires_in", "refresh_token"}
    bad_secret = op["responses"]["401"]["content"]["application/problem+json"]["examples"]["invalid-grant"]
    assert bad_secret["value"] == {"type": "https://jingzhun.example/problems/invalid-grant",
                                   "title": "Invalid credentials", "status": 401,
                                   "detail": "Unknown client or wrong secret", "error": "invalid_client"}
    assert "application/json" not in op["responses"]["401"]["content"]     # served as problem+json only
    # the example is what the endpoint really answers
    real = await stack.client.post("/api/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"})
    assert real.status_code == 401 and real.json()["type"] == bad_secret["value"]["type"]
    assert set(real.json()) == set(bad_secret["value"])
