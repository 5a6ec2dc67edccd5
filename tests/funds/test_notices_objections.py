"""公示 (CONTRACT §6): objections, resolving, closing, withdrawing, the audit chain."""

import hashlib

import rfc8785

from shared.problems import TYPE_BASE
from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, VILLAGE
from tests.funds.conftest import outbox_events, person
from tests.funds.notices_common import OBJECTION, officer


async def test_an_objection_is_stored_and_announced(funds, open_notice, funds_db, token):
    opened = await open_notice()
    r = await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)
    assert r.status_code == 201, r.text
    ack = r.json()
    assert ack["status"] == "pending" and ack["contact_phone"] == "138****5678"
    events = await outbox_events(funds_db, "objection.created")
    assert events == [{"to": ["notifications"], "payload": {
        "objection_id": ack["id"], "notice_id": opened["id"], "notice_title": opened["title"],
        "kind": "registration", "region_code": VILLAGE}}]
    public = (await funds.get(f"/public/notices/{opened['id']}")).json()
    assert public["objections"] == {"received": 1, "pending": 1, "upheld": 0, "dismissed": 0}
    assert "13812345678" not in (await funds.get(f"/public/notices/{opened['id']}")).text
    listed = (await funds.get(f"/api/v1/notices/{opened['id']}/objections", headers=officer(token))).json()
    assert [(o["contact_name"], o["contact_phone"], o["content"]) for o in listed["items"]] == [
        ("王大妈", "13812345678", OBJECTION["content"])]


async def test_objections_are_validated(funds, open_notice):
    opened = await open_notice()
    url = f"/public/notices/{opened['id']}/objections"
    for name, body in {"landline": OBJECTION | {"contact_phone": "09515012345"},
                       "short phone": OBJECTION | {"contact_phone": "1381234567"},
                       "12 as phone": OBJECTION | {"contact_phone": "12812345678"},
                       "content too short": OBJECTION | {"content": "不对"},
                       "content too long": OBJECTION | {"content": "长" * 1001},
                       "name too long": OBJECTION | {"contact_name": "名" * 33},
                       "no name": {k: v for k, v in OBJECTION.items() if k != "contact_name"},
                       "not an object": [OBJECTION]}.items():
        # from a fresh address each time: invalid attempts count against the address too
        r = await funds.post(url, json=body, headers={"x-forwarded-for": f"198.51.100.{len(name)}"})
        assert r.status_code == 422, (name, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == TYPE_BASE + "validation"
    r = await funds.post(url, content=b'{"contact_name": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = await funds.post(url, content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.headers["content-type"] == "application/problem+json"
    assert (await funds.post("/public/notices/999/objections", json=OBJECTION)).status_code == 404
    r = await funds.post(url, json=OBJECTION | {"content": "长" * 1000, "contact_name": "名" * 32})
    assert r.status_code == 201


async def test_a_plain_html_form_post_gets_a_confirmation_page(funds, open_notice, token):
    opened = await open_notice()
    url = f"/public/notices/{opened['id']}/objections"
    r = await funds.post(url, data=OBJECTION | {"submit": ""})
    assert r.status_code == 201 and r.headers["content-type"].startswith("text/html")
    assert "您的异议已提交" in r.text and "13812345678" not in r.text
    listed = (await funds.get(f"/api/v1/notices/{opened['id']}/objections", headers=officer(token))).json()
    assert listed["items"][0]["content"] == OBJECTION["content"]
    # a bad form comes back as the page, in Chinese, with what was typed kept (escaped)
    r = await funds.post(url, data={"contact_name": "<i>老王</i>", "contact_phone": "123", "content": "不对"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "手机号码" in r.text and "异议内容" in r.text and 'value="&lt;i&gt;老王&lt;/i&gt;"' in r.text
    assert "<i>老王</i>" not in r.text
    assert (await funds.post("/public/notices/999/objections", data=OBJECTION)).status_code == 404


async def test_objections_only_while_open_and_within_the_period(funds, open_notice, token, clock):
    instant = await open_notice(days=0, requester_ref="instant")
    r = await funds.post(f"/public/notices/{instant['id']}/objections", json=OBJECTION)
    assert r.status_code == 409 and r.json()["type"].endswith("/notice-not-open")
    html = await funds.post(f"/public/notices/{instant['id']}/objections", data=OBJECTION)
    assert html.status_code == 409 and "不再受理异议" in html.text and 'name="contact_phone"' not in html.text
    running_notice = await open_notice(requester_ref="running")
    clock.advance(days=7, seconds=1)
    r = await funds.post(f"/public/notices/{running_notice['id']}/objections", json=OBJECTION)
    assert r.status_code == 409
    page = (await funds.get(f"/public/notices/{running_notice['id']}")).json()
    assert page["accepting_objections"] is False and page["status"] == "open"
    assert (await funds.post(f"/api/v1/notices/{instant['id']}/close", headers=officer(token))).status_code == 200
    assert (await funds.post(f"/public/notices/{instant['id']}/objections", json=OBJECTION)).status_code == 409


# --- officers ------------------------------------------------------------------------------------

async def test_officer_views_are_region_scoped(funds, open_notice, token):
    opened = await open_notice()
    await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)
    url = f"/api/v1/notices/{opened['id']}"
    assert (await funds.get(url)).status_code == 401
    r = await funds.get(url, headers=officer(token))
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    view = r.json()
    assert view["requester"] == "registry" and view["requester_ref"] == "households:batch-1"
    assert view["items"][0]["id_number"].count("*") == 8
    assert (await funds.get(url, headers=officer(token, region=OTHER_TOWNSHIP))).status_code == 404
    assert (await funds.get(url, headers=officer(token, "helper", VILLAGE))).status_code == 403
    assert (await funds.get(url, headers=officer(token, "auditor", COUNTY))).status_code == 200
    objections = f"{url}/objections"
    assert (await funds.get(objections, headers=officer(token, region=OTHER_TOWNSHIP))).status_code == 404
    assert (await funds.get(objections, headers=officer(token, "finance_officer", COUNTY))).status_code == 403
    cadre = (await funds.get(objections, headers=officer(token, "village_cadre", VILLAGE))).json()
    assert cadre["items"][0]["contact_phone"] == "13812345678"
    audited = (await funds.get(objections, headers=officer(token, "auditor", COUNTY))).json()
    assert audited["items"][0]["contact_phone"] == "138****5678"
    mine = (await funds.get("/api/v1/notices", headers=officer(token))).json()
    assert [n["id"] for n in mine["items"]] == [opened["id"]]
    assert (await funds.get("/api/v1/notices", headers=officer(token, region=OTHER_TOWNSHIP))).json()["items"] == []
    assert (await funds.get(f"/api/v1/notices?region={VILLAGE}",
                            headers=officer(token, region=OTHER_TOWNSHIP))).json()["items"] == []


async def test_resolving_an_objection(funds, open_notice, funds_db, token):
    opened = await open_notice()
    oid = (await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)).json()["id"]
    url = f"/api/v1/objections/{oid}/resolve"
    h = officer(token)
    cases = {
        "upheld names no item on a list of three": {"decision": "upheld", "reply": "经核实属实"},
        "unknown ref": {"decision": "upheld", "reply": "经核实属实", "item_refs": ["household:99"]},
        "dismissed strikes nothing": {"decision": "dismissed", "reply": "不属实", "item_refs": ["household:1"]},
        "no reply": {"decision": "dismissed", "reply": ""},
        "odd decision": {"decision": "maybe", "reply": "x"},
    }
    for name, body in cases.items():
        r = await funds.post(url, json=body, headers=h)
        assert r.status_code == 422, (name, r.text)
    assert (await funds.post(url, json={"decision": "dismissed", "reply": "x"},
                             headers=officer(token, region=OTHER_TOWNSHIP))).status_code == 404
    assert (await funds.post(url, json={"decision": "dismissed", "reply": "x"},
                             headers=officer(token, "auditor", COUNTY))).status_code == 403
    r = await funds.post(url, json={"decision": "upheld", "reply": "经村民代表会议核实，情况属实，取消该户识别。",
                                    "item_refs": ["household:1"]}, headers=h)
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["status"] == "upheld" and resolved["item_refs"] == ["household:1"]
    assert resolved["resolved_by"] == "u-town" and resolved["version"] == 2
    again = await funds.post(url, json={"decision": "dismissed", "reply": "x"}, headers=h)
    assert again.status_code == 409 and again.json()["type"].endswith("/objection-resolved")
    events = await outbox_events(funds_db, "objection.resolved")
    assert events == [{"to": ["notifications"], "payload": {
        "objection_id": oid, "notice_id": opened["id"], "notice_title": opened["title"], "region_code": VILLAGE,
        "contact_phone": "13812345678", "reply": "经村民代表会议核实，情况属实，取消该户识别。", "decision": "upheld"}}]
    assert (await funds.post("/api/v1/objections/999/resolve", json={"decision": "dismissed", "reply": "x"},
                             headers=h)).status_code == 404


# --- closing -------------------------------------------------------------------------------------

async def test_close_is_refused_before_the_end_and_with_an_unresolved_objection(funds, open_notice, token, clock):
    opened = await open_notice()
    close = f"/api/v1/notices/{opened['id']}/close"
    r = await funds.post(close, headers=officer(token))
    assert r.status_code == 409 and r.json()["type"].endswith("/notice-period-running")
    assert r.json()["ends_at"] == opened["ends_at"]
    oid = (await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)).json()["id"]
    clock.advance(days=7, seconds=1)
    r = await funds.post(close, headers=officer(token))
    assert r.status_code == 409 and r.json()["type"].endswith("/objections-unresolved") and r.json()["pending"] == 1
    assert (await funds.post(close, headers=officer(token, region=OTHER_TOWNSHIP))).status_code == 404
    assert (await funds.post(close, headers=officer(token, "auditor", COUNTY))).status_code == 403
    assert (await funds.post(f"/api/v1/objections/{oid}/resolve", json={"decision": "dismissed", "reply": "经核实不属实"},
                             headers=officer(token))).status_code == 200
    r = await funds.post(close, headers=officer(token))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["struck_refs"] == [] and r.headers["etag"] == '"2"'
    again = await funds.post(close, headers=officer(token))
    assert again.status_code == 409 and again.json()["type"].endswith("/notice-not-open")


async def test_an_upheld_objection_strikes_its_item_in_the_hand_back(funds, open_notice, funds_db, token, clock):
    opened = await open_notice()
    ids = []
    for content in ("马文军家有小汽车，不符合条件。", "杨占福家情况属实，没有问题。"):
        r = await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION | {"content": content})
        ids.append(r.json()["id"])
    h = officer(token)
    assert (await funds.post(f"/api/v1/objections/{ids[0]}/resolve", json={
        "decision": "upheld", "reply": "经核实属实，不予识别。", "item_refs": ["household:1"]}, headers=h)).status_code == 200
    assert (await funds.post(f"/api/v1/objections/{ids[1]}/resolve", json={
        "decision": "dismissed", "reply": "经核实不属实。"}, headers=h)).status_code == 200
    clock.advance(days=8)
    r = await funds.post(f"/api/v1/notices/{opened['id']}/close", headers=h)
    assert r.status_code == 200, r.text
    events = await outbox_events(funds_db, "notice.closed")
    assert events == [{"to": ["registry"], "payload": {
        "notice_id": opened["id"], "kind": "registration", "requester_ref": "households:batch-1",
        "region_code": VILLAGE, "content_hash": opened["content_hash"], "outcome": "closed", "reason": None,
        "items": [{"ref": "household:1", "struck": True}, {"ref": "household:2", "struck": False},
                  {"ref": "household:3", "struck": False}]}}]
    public = (await funds.get(f"/public/notices/{opened['id']}")).json()
    assert public["status"] == "closed" and public["struck_refs"] == ["household:1"]
    assert public["objections"] == {"received": 2, "pending": 0, "upheld": 1, "dismissed": 1}
    page = (await funds.get(f"/public/notices/{opened['id']}.html")).text
    assert 'class="struck"' in page and "异议成立，不予通过" in page and 'name="contact_phone"' not in page
    # the hash still holds after closing: the list did not change
    content = {k: public[k] for k in ("kind", "region_code", "title", "starts_at", "ends_at", "items")}
    assert hashlib.sha256(rfc8785.dumps(content)).hexdigest() == opened["content_hash"]


async def test_upheld_on_a_single_item_notice_strikes_that_item(funds, open_notice, funds_db, token, clock):
    opened = await open_notice(kind="exit", items=[person(5, name="马福贵", amount=None)],
                               requester_ref="household:5:exit")
    oid = (await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)).json()["id"]
    r = await funds.post(f"/api/v1/objections/{oid}/resolve", json={"decision": "upheld", "reply": "收入未达标"},
                         headers=officer(token))
    assert r.status_code == 200 and r.json()["item_refs"] == ["household:5"]
    clock.advance(days=8)
    assert (await funds.post(f"/api/v1/notices/{opened['id']}/close", headers=officer(token))).status_code == 200
    [event] = await outbox_events(funds_db, "notice.closed")
    assert event["payload"]["items"] == [{"ref": "household:5", "struck": True}]
    assert event["payload"]["kind"] == "exit" and event["to"] == ["registry"]


async def test_a_funds_notice_hands_back_to_funds(funds, open_notice, funds_db, token, clock):
    opened = await open_notice(kind="disbursement", requester="funds", requester_ref="disbursement:7",
                               items=[person(1, ref="line:1"), person(2, ref="line:2")])
    clock.advance(days=8)
    assert (await funds.post(f"/api/v1/notices/{opened['id']}/close", headers=officer(token))).status_code == 200
    [event] = await outbox_events(funds_db, "notice.closed")
    assert event["to"] == ["funds"] and event["payload"]["requester_ref"] == "disbursement:7"
    assert event["payload"]["items"] == [{"ref": "line:1", "struck": False}, {"ref": "line:2", "struck": False}]


async def test_withdrawing_strikes_every_item(funds, open_notice, funds_db, token):
    opened = await open_notice()
    await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)
    url = f"/api/v1/notices/{opened['id']}/withdraw"
    assert (await funds.post(url, json={"reason": ""}, headers=officer(token))).status_code == 422
    assert (await funds.post(url, json={"reason": "名单有误"},
                             headers=officer(token, region=OTHER_TOWNSHIP))).status_code == 404
    r = await funds.post(url, json={"reason": "名单录入有误，重新公示"}, headers=officer(token))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn" and r.json()["withdraw_reason"] == "名单录入有误，重新公示"
    [event] = await outbox_events(funds_db, "notice.closed")
    assert event["to"] == ["registry"]
    assert event["payload"]["outcome"] == "withdrawn" and event["payload"]["reason"] == "名单录入有误，重新公示"
    assert all(item["struck"] for item in event["payload"]["items"]) and len(event["payload"]["items"]) == 3
    assert (await funds.post(url, json={"reason": "再撤一次"}, headers=officer(token))).status_code == 409
    assert (await funds.post(f"/api/v1/notices/{opened['id']}/close", headers=officer(token))).status_code == 409
    assert (await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)).status_code == 409
    page = (await funds.get(f"/public/notices/{opened['id']}.html")).text
    assert "已撤回" in page and "名单录入有误，重新公示" in page


async def test_every_step_is_in_the_audit_chain(funds, open_notice, token, clock):
    opened = await open_notice()
    oid = (await funds.post(f"/public/notices/{opened['id']}/objections", json=OBJECTION)).json()["id"]
    await funds.post(f"/api/v1/objections/{oid}/resolve", json={"decision": "dismissed", "reply": "不属实"},
                     headers=officer(token))
    clock.advance(days=8)
    await funds.post(f"/api/v1/notices/{opened['id']}/close", headers=officer(token))
    other = await open_notice(requester_ref="other")
    await funds.post(f"/api/v1/notices/{other['id']}/withdraw", json={"reason": "重复公示"}, headers=officer(token))
    admin = auth(token())
    events = (await funds.get("/api/v1/audit/events?service=funds", headers=admin)).json()["items"]
    assert [(e["action"], e["entity"], e["actor"]) for e in events] == [
        ("notice.open", "notice", "svc:registry"), ("objection.create", "objection", "public"),
        ("objection.resolve", "objection", "u-town"), ("notice.close", "notice", "u-town"),
        ("notice.open", "notice", "svc:registry"), ("notice.withdraw", "notice", "u-town")]
    assert events[0]["diff"]["content_hash"] == opened["content_hash"]
    assert "13812345678" not in str(events)
    verify = (await funds.get("/api/v1/audit/verify", headers=admin)).json()
    assert verify["chains"]["funds"]["ok"] and verify["chains"]["funds"]["count"] == 6
