from services.gateway.openapi import merge
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
