"""What a person finds in ``/docs``: served by the project alone, every operation tagged and summarised, every
code labelled in Chinese, every bank operation with examples of what it takes and answers."""

import re

from services.funds.app import create as create_funds
from services.gateway.proxy import ROUTES
from services.gateway.tags import TAGS, tag_for
from services.notifications.app import create as create_notifications

METHODS = ("get", "put", "post", "delete", "patch")
BANK_OPERATIONS = ("/api/v1/auth/token", "/api/v1/bank/")


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _examples(content: dict) -> int:
    return sum(len(body.get("examples") or {}) + ("example" in body) for body in content.values())


async def _merged(make_stack, settings):
    async with make_stack({"funds": create_funds(settings), "notifications": create_notifications(settings)}) as s:
        spec = (await s.client.get("/openapi.json")).json()
        assert "x-missing-services" not in spec["info"]
        return spec


async def test_every_operation_has_a_domain_tag_and_a_summary_in_plain_words(make_stack, settings):
    spec = await _merged(make_stack, settings)
    listed = {t["name"]: t.get("description", "") for t in spec["tags"]}
    assert all(listed.values()), "every tag is described"
    assert all(re.match(r"^[\u4e00-\u9fff]+.* [A-Za-z]", name) for name in listed), "Chinese, then English"
    untagged, unlisted, unsummarised = [], [], []
    for path, method, op in operations(spec):
        tags = op.get("tags") or []
        if len(tags) != 1:
            untagged.append(f"{method.upper()} {path}: {tags}")
        elif tags[0] not in listed:
            unlisted.append(f"{method.upper()} {path}: {tags}")
        summary = op.get("summary") or ""
        # FastAPI's fallback summary is the function's name, title-cased: "Get Loan", "List Projects"
        fallback = summary.lower().replace(" ", "_")
        if not summary or op["operationId"].startswith(fallback):
            unsummarised.append(f"{method.upper()} {path}: {summary!r}")
    assert not untagged, f"add the path's prefix to services/gateway/tags.py TAGS: {untagged}"
    assert not unlisted and not unsummarised, (unlisted, unsummarised)
    assert spec["paths"]["/api/v1/households"]["post"]["tags"] == ["建档立卡 households"]
    assert spec["paths"]["/api/v1/bank/loan-events"]["post"]["tags"] == ["合作银行 partner banks"]


def test_every_routed_prefix_has_a_tag():
    """A router the gateway routes to cannot be forgotten: its prefix (or a shorter one) is in the table."""
    assert [p for p in ROUTES if tag_for(p) is None] == []
    assert tag_for("/api/v1/households/{household_id}/transitions") == "识别与退出 lifecycle"
    assert tag_for("/api/v1/households/{household_id}") == "建档立卡 households"
    assert tag_for("/api/v1/nothing-here") is None
    assert len({tag for _, tag, _ in TAGS}) < len(TAGS)       # a tag may gather several prefixes


async def test_every_bank_operation_shows_an_example_of_each_body_and_answer(make_stack, settings):
    spec = await _merged(make_stack, settings)
    bank = [(p, m, op) for p, m, op in operations(spec) if p.startswith(BANK_OPERATIONS)]
    assert {p for p, _, _ in bank} >= {"/api/v1/auth/token", "/api/v1/bank/loan-events", "/api/v1/bank/statements",
                                       "/api/v1/bank/disbursements/{disbursement_id}/results"}
    missing = []
    for path, method, op in bank:
        if "requestBody" in op:
            for media, body in op["requestBody"]["content"].items():
                if not _examples({media: body}):
                    missing.append(f"{method.upper()} {path} request {media}")
        for code, answer in op["responses"].items():
            if not _examples(answer.get("content") or {}):
                missing.append(f"{method.upper()} {path} {code}")
    assert missing == []
    token = spec["paths"]["/api/v1/auth/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["examples"]
    assert any(e["value"].get("grant_type") == "client_credentials" for e in form.values())
    conflicts = spec["paths"]["/api/v1/bank/loan-events"]["post"]["responses"]["409"]["content"]
    slugs = {e["value"]["type"].rsplit("/", 1)[1] for e in conflicts["application/problem+json"]["examples"].values()}
    assert "impossible-event" in slugs


async def test_every_code_is_labelled_in_chinese(make_stack, settings):
    spec = await _merged(make_stack, settings)
    schemas = spec["components"]["schemas"]
    enums = {name: s for name, s in schemas.items() if "enum" in s}
    assert {"Relation", "Status", "Cause", "Purpose", "LoanEventKind", "Role", "SmsStatus"} <= enums.keys()
    unlabelled = {name: sorted(set(s["enum"]) - set(s.get("x-enum-labels", {}))) for name, s in enums.items()}
    assert {k: v for k, v in unlabelled.items() if v} == {}
    assert "`son_in_law` 之女婿" in schemas["Relation"]["description"]
    assert "`tekun` 特困供养贫困户" in schemas["Attribute"]["description"]


async def test_docs_and_their_assets_come_from_the_project(gateway):
    page = await gateway.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", page.text) == [], "no URL outside the project"
    assets = re.findall(r'(?:href|src)="([^"]+)"', page.text)
    assert sorted(assets) == ["/docs/assets/favicon-32x32.png", "/docs/assets/swagger-ui-bundle.js",
                              "/docs/assets/swagger-ui.css"]
    for asset in assets:
        r = await gateway.get(asset)
        assert r.status_code == 200 and len(r.content) > 500, asset
    assert "SwaggerUIBundle" in (await gateway.get("/docs/assets/swagger-ui-bundle.js")).text
    redirect = await gateway.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and re.findall(r"https?://", redirect.text) == []
    unknown = await gateway.get("/docs/assets/index.html")     # the package's demo page (it names a petstore)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
