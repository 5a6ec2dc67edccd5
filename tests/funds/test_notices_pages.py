"""A long 公示 (a county's batch lists up to 100,000 households) is read a page at a time, in JSON and on the HTML
page, and its content_hash is recomputed from the pages."""

import hashlib
import re
from decimal import Decimal

import rfc8785

from tests.funds.conftest import person


async def test_a_long_notice_is_read_page_by_page_and_its_hash_recomputed(funds, open_notice, token):
    items = [person(n % 200 + 1, name=f"户主{n}", amount=f"{100 + n % 7}.50", ref=f"household:{n}")
             for n in range(1, 1202)]
    opened = await open_notice(items=items, title="贺兰县2020年低保金发放公示")
    pages, cursor = [], None
    while True:
        r = await funds.get(f"/public/notices/{opened['id']}", params={"cursor": cursor} if cursor else {})
        assert r.status_code == 200
        pages.append(r.json())
        if (cursor := r.json()["items_next_cursor"]) is None:
            break
    assert [len(p["items"]) for p in pages] == [500, 500, 201]
    first = pages[0]
    assert first["item_count"] == 1201
    assert Decimal(first["amount_total"]) == sum(Decimal(i["amount"]) for i in items)
    listed = [item for p in pages for item in p["items"]]
    assert [i["ref"] for i in listed] == [i["ref"] for i in items] and "*" in listed[0]["id_number"]
    content = {k: first[k] for k in ("kind", "region_code", "title", "starts_at", "ends_at")} | {"items": listed}
    assert hashlib.sha256(rfc8785.dumps(content)).hexdigest() == first["content_hash"] == opened["content_hash"]

    small = (await funds.get(f"/public/notices/{opened['id']}", params={"limit": 2})).json()
    assert [i["ref"] for i in small["items"]] == ["household:1", "household:2"] and small["items_next_cursor"]
    assert (await funds.get(f"/public/notices/{opened['id']}", params={"limit": 501})).status_code == 422
    forged = await funds.get(f"/public/notices/{opened['id']}", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert forged.status_code == 400

    html = (await funds.get(f"/public/notices/{opened['id']}.html")).text
    assert "第 1–500 项，共 1201 项" in html and "户主500<" in html and "户主501<" not in html
    next_link = re.search(r'href="(/public/notices/\d+\.html\?cursor=[^"#]+)#items">下一页', html).group(1)
    second = (await funds.get(next_link.replace("&amp;", "&"))).text
    assert "第 501–1000 项，共 1201 项" in second and '<td class="num seq" data-label="序号">501</td>' in second
    assert "户主501<" in second and "第一页" in second
    total = f"{sum(Decimal(i['amount']) for i in items):,.2f}"
    assert total in html and total in second        # the whole list's total, on every page


async def test_an_upheld_objection_names_items_on_any_page(funds, open_notice, token, clock):
    from shared.testing import auth
    items = [person(n % 200 + 1, name=f"户主{n}", ref=f"household:{n}") for n in range(1, 1102)]
    opened = await open_notice(items=items, requester="funds", kind="disbursement", requester_ref="disbursement:9")
    r = await funds.post(f"/public/notices/{opened['id']}/objections", json={
        "contact_name": "村民", "contact_phone": "13800001111", "content": "第1100户不符合条件"})
    listed = await funds.get(f"/api/v1/notices/{opened['id']}/objections", headers=auth(token()))
    objection = listed.json()["items"][0]
    unknown = await funds.post(f"/api/v1/objections/{objection['id']}/resolve", headers=auth(token()), json={
        "decision": "upheld", "reply": "x", "item_refs": ["household:3", "household:9999"]})
    assert unknown.status_code == 422 and "household:9999" in unknown.text
    r = await funds.post(f"/api/v1/objections/{objection['id']}/resolve", headers=auth(token()), json={
        "decision": "upheld", "reply": "经核实，取消", "item_refs": ["household:1100", "household:3"]})
    assert r.status_code == 200 and r.json()["item_refs"] == ["household:3", "household:1100"]   # in list order
    clock.advance(days=8)
    closed = await funds.post(f"/api/v1/notices/{opened['id']}/close", headers=auth(token()))
    assert closed.status_code == 200 and closed.json()["struck_refs"] == ["household:3", "household:1100"]
