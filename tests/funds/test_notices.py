"""公示 (CONTRACT §6): opening and the public board (objections onwards: test_notices_objections.py)."""

import hashlib
import re
from datetime import datetime

import rfc8785

from services.funds.app import create
from shared.testing import app_client, auth, make_token, running
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, _service_app
from tests.funds.conftest import notice_body, person
from tests.funds.notices_common import officer

OPENED_KEYS = {"id", "kind", "region_code", "title", "starts_at", "ends_at", "content_hash", "status"}


# --- opening -------------------------------------------------------------------------------------

async def test_a_service_opens_a_notice_and_gets_the_contract_shape(funds, service_headers, token):
    r = await funds.post("/internal/notices", json=notice_body(), headers=service_headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == OPENED_KEYS
    assert body["status"] == "open" and body["kind"] == "registration" and body["region_code"] == VILLAGE
    starts, ends = datetime.fromisoformat(body["starts_at"]), datetime.fromisoformat(body["ends_at"])
    assert starts.utcoffset() is not None and (ends - starts).days == 7
    assert re.fullmatch(r"[0-9a-f]{64}", body["content_hash"])
    # only service tokens may open notices
    assert (await funds.post("/internal/notices", json=notice_body())).status_code == 401
    r = await funds.post("/internal/notices", json=notice_body(), headers=auth(token()))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"


async def test_the_period_lasts_at_least_notice_min_days(settings, service_headers):
    strict = settings.model_copy(update={"notice_min_days": 7})
    async with app_client(create(strict)) as client:
        body = notice_body()
        del body["days"]
        r = await client.post("/internal/notices", json=body, headers=service_headers)
        assert r.status_code == 201, r.text
        opened = r.json()
        assert (datetime.fromisoformat(opened["ends_at"]) - datetime.fromisoformat(opened["starts_at"])).days == 7
        r = await client.post("/internal/notices", json=notice_body(days=3, requester_ref="other"),
                              headers=service_headers)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "days"]


async def test_opening_validates_what_it_publishes(funds, service_headers):
    bad = {
        "unknown kind": notice_body(kind="lottery"),
        "bad region": notice_body(region_code="640122"),
        "no items": notice_body(items=[]),
        "duplicate refs": notice_body(items=[person(1), person(1)]),
        "bad id number": notice_body(items=[person(1, id_number="640122197001010000")]),
        "three decimals": notice_body(items=[person(1, amount="1.005")]),
        "float display field": notice_body(items=[person(1, area=1.5)]),
        "nested too deep": notice_body(items=[person(1, memo={"a": {"b": 1}})]),
        "odd field name": notice_body(items=[person(1, **{"Bad Key": 1})]),
        "unknown requester": notice_body(requester="bank"),
        "too long": notice_body(days=91),
    }
    for name, body in bad.items():
        r = await funds.post("/internal/notices", json=body, headers=service_headers)
        assert r.status_code == 422, (name, r.text)
        assert r.headers["content-type"] == "application/problem+json"


async def test_opening_again_while_open_answers_the_same_notice(funds, service_headers, token, clock):
    first = await funds.post("/internal/notices", json=notice_body(), headers=service_headers)
    again = await funds.post("/internal/notices", json=notice_body(), headers=service_headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await funds.post("/internal/notices", json=notice_body(items=[person(9)]), headers=service_headers)
    assert other.status_code == 409 and other.json()["notice_id"] == first.json()["id"]
    # once it is over, the same action may be announced anew
    clock.advance(days=8)
    assert (await funds.post(f"/api/v1/notices/{first.json()['id']}/close", headers=officer(token))).status_code == 200
    r = await funds.post("/internal/notices", json=notice_body(), headers=service_headers)
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_the_region_name_is_looked_up_in_the_registry(settings, token):
    apps = {name: _service_app(name, settings) for name in ("registry", "funds")}
    async with running(apps, settings) as c:
        assert (await c["registry"].post("/api/v1/regions", json={"code": COUNTY, "name": "贺兰县"},
                                         headers=auth(token()))).status_code == 201
        body = notice_body(region_code=COUNTY, kind="project", requester="funds")
        del body["region_name"]
        r = await c["funds"].post("/internal/notices", json=body,
                                  headers=auth(make_token(settings, role="service", region="", sub="svc:funds")))
        assert r.status_code == 201, r.text
        public = (await c["funds"].get(f"/public/notices/{r.json()['id']}")).json()
        assert public["region_name"] == "贺兰县"


# --- what the public sees ------------------------------------------------------------------------

async def test_public_json_and_html_never_show_a_full_id_number_or_phone(funds, open_notice):
    items = [person(1, memo="联系电话13987654321，身份证见附件"), person(2, members=[
        {"name": "李秀英", "id_number": "640122198001010021", "relation": "spouse"}])]
    opened = await open_notice(items=items)
    secrets = [i["id_number"] for i in items] + [i["phone"] for i in items] + ["13987654321", "640122198001010021"]
    shown = []
    for path in (f"/public/notices/{opened['id']}", f"/public/notices/{opened['id']}.html", "/public",
                 "/public/notices"):
        r = await funds.get(path)
        assert r.status_code == 200, (path, r.text)
        shown.append(r.text)
        for secret in secrets:
            assert secret not in r.text, (path, secret)
    public = (await funds.get(f"/public/notices/{opened['id']}")).json()
    first = public["items"][0]
    assert first["name"] == "马文军"
    assert first["id_number"] == items[0]["id_number"][:6] + "********" + items[0]["id_number"][-4:]
    assert first["phone"] == items[0]["phone"][:3] + "****" + items[0]["phone"][-4:]
    assert first["amount"] == "3000.00"
    assert first["memo"] == "联系电话139****4321，身份证见附件"
    assert public["items"][1]["members"][0]["id_number"] == "640122********0021"
    assert "640122********" in shown[1] and "139****" in shown[1]


async def test_content_hash_is_recomputable_from_the_public_json(funds, open_notice, token):
    opened = await open_notice(items=[person(1, name="马文军"), person(2, amount="12.5", memo="危房改造")])
    public = (await funds.get(f"/public/notices/{opened['id']}")).json()
    content = {k: public[k] for k in ("kind", "region_code", "title", "starts_at", "ends_at", "items")}
    recomputed = hashlib.sha256(rfc8785.dumps(content)).hexdigest()
    assert recomputed == public["content_hash"] == opened["content_hash"]
    assert public["items"][1]["amount"] == "12.50"
    officer_view = (await funds.get(f"/api/v1/notices/{opened['id']}", headers=officer(token))).json()
    assert officer_view["content_hash"] == recomputed and officer_view["items"] == public["items"]
    # changing anything shown changes the hash
    tampered = content | {"items": [dict(public["items"][0], amount="30000.00"), public["items"][1]]}
    assert hashlib.sha256(rfc8785.dumps(tampered)).hexdigest() != recomputed
    html = (await funds.get(f"/public/notices/{opened['id']}.html")).text
    assert recomputed in html


async def test_the_page_escapes_everything(funds, open_notice):
    opened = await open_notice(title="<b>公示</b>", items=[
        person(1, name="<script>alert(1)</script>", memo='"><img src=x onerror=alert(2)>')])
    r = await funds.get(f"/public/notices/{opened['id']}.html")
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<img" not in r.text and "&lt;b&gt;公示&lt;/b&gt;" in r.text
    assert "<script" not in r.text.lower()
    assert "script-src" not in r.headers["content-security-policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    board = (await funds.get("/public")).text
    assert "<script>" not in board and "&lt;b&gt;公示&lt;/b&gt;" in board


async def test_the_page_shows_period_list_hash_and_form_without_external_assets(funds, open_notice):
    opened = await open_notice()
    r = await funds.get(f"/public/notices/{opened['id']}.html")
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    for text in ("欣荣村2020年贫困户识别公示", "欣荣村", "公示期", "马文军", "李秀英", "杨占福", "3,000.00",
                 "一般贫困户", "因病", opened["content_hash"], "提出异议", 'name="contact_phone"',
                 f'action="/public/notices/{opened["id"]}/objections"', 'name="viewport"'):
        assert text in page, text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no external assets"
    assert "<link" not in page and "<script" not in page
    assert len(page.encode()) < 30_000


async def test_the_board_lists_open_notices(funds, open_notice, token, clock):
    first = await open_notice(title="第一批识别公示", requester_ref="a")
    second = await open_notice(title="第二批识别公示", requester_ref="b", region_code=OTHER_TOWNSHIP[:9] + "001")
    clock.advance(days=8)
    assert (await funds.post(f"/api/v1/notices/{first['id']}/close", headers=officer(token))).status_code == 200
    board = await funds.get("/public")
    assert board.status_code == 200
    assert "第二批识别公示" in board.text and "第一批识别公示" not in board.text
    assert f"/public/notices/{second['id']}.html" in board.text
    assert "第二批识别公示" not in (await funds.get(f"/public?region={VILLAGE}")).text


async def test_public_list_filters_by_region_and_status_and_pages(funds, open_notice, token, clock):
    ids = [(await open_notice(requester_ref=f"r{i}", region_code=code))["id"]
           for i, code in enumerate([VILLAGE, VILLAGE, OTHER_TOWNSHIP[:9] + "001"])]
    clock.advance(days=8)
    assert (await funds.post(f"/api/v1/notices/{ids[0]}/close", headers=officer(token))).status_code == 200
    everything = (await funds.get("/public/notices")).json()
    assert [n["id"] for n in everything["items"]] == ids[::-1] and everything["next_cursor"] is None
    assert {"content_hash", "starts_at", "ends_at", "status", "kind_label"} <= everything["items"][0].keys()
    town = (await funds.get(f"/public/notices?region={TOWNSHIP}")).json()
    assert [n["id"] for n in town["items"]] == ids[1::-1]
    closed = (await funds.get("/public/notices?status=closed")).json()
    assert [n["id"] for n in closed["items"]] == [ids[0]]
    seen, cursor = [], None
    while True:
        page = (await funds.get("/public/notices", params={"limit": 1, **({"cursor": cursor} if cursor else {})})).json()
        seen += [n["id"] for n in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ids[::-1]
    assert (await funds.get("/public/notices?region=123")).status_code == 422
    assert (await funds.get("/public/notices?cursor=garbage!")).status_code == 400
    assert (await funds.get("/public/notices/999")).status_code == 404
    missing = await funds.get("/public/notices/999.html")
    assert missing.status_code == 404 and "没有找到" in missing.text


# --- objections ----------------------------------------------------------------------------------


async def test_a_monitoring_notice_runs_at_least_five_days_unless_the_setting_is_lower(settings, service_headers):
    def length(opened: dict) -> int:
        return (datetime.fromisoformat(opened["ends_at"]) - datetime.fromisoformat(opened["starts_at"])).days

    strict = settings.model_copy(update={"notice_min_days": 7})
    async with app_client(create(strict)) as client:
        body = notice_body(kind="monitoring", requester_ref="registry/monitoring_case/1/inclusion/v1")
        del body["days"]
        r = await client.post("/internal/notices", json=body, headers=service_headers)
        assert r.status_code == 201 and length(r.json()) == 5          # the default is the kind's minimum
        r = await client.post("/internal/notices", json=notice_body(kind="monitoring", days=4, requester_ref="m2"),
                              headers=service_headers)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "days"]
        r = await client.post("/internal/notices", json=notice_body(kind="monitoring", days=6, requester_ref="m3"),
                              headers=service_headers)
        assert r.status_code == 201 and length(r.json()) == 6 and r.json()["kind"] == "monitoring"
        r = await client.post("/internal/notices", json=notice_body(days=5, requester_ref="r1"),
                              headers=service_headers)
        assert r.status_code == 422                                      # other kinds: the setting's 7 days
    lenient = settings.model_copy(update={"notice_min_days": 3})
    async with app_client(create(lenient)) as client:
        r = await client.post("/internal/notices", json=notice_body(kind="monitoring", days=3, requester_ref="m4"),
                              headers=service_headers)
        assert r.status_code == 201 and length(r.json()) == 3
