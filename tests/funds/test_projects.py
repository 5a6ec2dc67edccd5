"""扶贫项目 (CONTRACT §5): the approval chain by role, funding only from allocations of the project's purpose and
region (专款专用), staged payments never beyond the funding, 尾款 after 验收, 报账 giving the rest back."""

import asyncio
from decimal import Decimal

import pytest

from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)
from tests.registry.conftest import OTHER_VILLAGE

TOWNSHIP_OFFICER = {"role": "township_officer", "region": TOWNSHIP, "sub": "u-township"}
FINANCE = {"role": "finance_officer", "sub": "u-finance"}


@pytest.fixture
async def money(apps, token) -> dict:  # noqa: F811
    """Two allocations to the township: industry 50,000.00 and education 5,000.00."""
    funds = apps["funds"]
    source = (await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "2020年中央财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕1号", "year": 2020})).json()["id"]
    out = {}
    for purpose, amount, region in (("industry", "50000.00", TOWNSHIP), ("education", "5000.00", TOWNSHIP),
                                    ("industry", "9000.00", OTHER_TOWNSHIP)):
        r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
            "source_id": source, "region_code": region, "purpose": purpose, "amount": amount, "year": 2020,
            "doc_no": "贺财〔2020〕12号"})
        assert r.status_code == 201, r.text
        out[(purpose, region)] = r.json()["id"]
    return out


async def propose(apps, token, beneficiaries=(), **kw) -> dict:  # noqa: F811
    body = {"name": "欣荣村肉牛养殖基地", "purpose": "industry", "village_code": VILLAGE, "budget": "30000.00",
            "beneficiary_household_ids": list(beneficiaries)} | kw
    r = await apps["funds"].post("/api/v1/projects", json=body, headers=auth(token(**TOWNSHIP_OFFICER)))
    assert r.status_code == 201, r.text
    return r.json()


async def move(apps, token, pid: int, action: str, **who):  # noqa: F811
    return await apps["funds"].post(f"/api/v1/projects/{pid}/transitions", json={"action": action},
                                    headers=auth(token(**who)))


async def allocation(apps, token, aid: int) -> dict:  # noqa: F811
    return (await apps["funds"].get(f"/api/v1/allocations/{aid}", headers=auth(token()))).json()


async def test_a_project_from_proposal_to_settlement(apps, token, settings, money):  # noqa: F811
    funds = apps["funds"]
    a, b = await registered(apps, token, settings), await registered(apps, token, settings)
    p = await propose(apps, token, beneficiaries=[a, b])
    assert (p["status"], p["status_label"], p["budget"]) == ("proposed", "申报", "30000.00")
    industry = money[("industry", TOWNSHIP)]

    early = await funds.post(f"/api/v1/projects/{p['id']}/fundings", headers=auth(token()),
                             json={"allocation_id": industry, "amount": "1.00"})
    assert early.status_code == 409                                     # not before approval
    assert (await move(apps, token, p["id"], "approve", **TOWNSHIP_OFFICER)).status_code == 403
    assert (await move(apps, token, p["id"], "approve")).status_code == 200
    r = await funds.post(f"/api/v1/projects/{p['id']}/fundings", headers=auth(token(**FINANCE)),
                         json={"allocation_id": industry, "amount": "25000.00"})
    assert r.status_code == 201, r.text
    assert (await allocation(apps, token, industry))["committed"] == "25000.00"
    assert (await move(apps, token, p["id"], "start", **TOWNSHIP_OFFICER)).status_code == 200

    pay = f"/api/v1/projects/{p['id']}/payments"
    r = await funds.post(pay, headers=auth(token(**FINANCE)), json={"amount": "9000.00", "payee": "贺兰县建工公司",
                                                                     "stage": "advance"})
    assert r.status_code == 201 and r.json()["amount"] == "9000.00" and r.json()["stage_label"] == "预付款"
    assert (await funds.get(f"/api/v1/projects/{p['id']}", headers=auth(token()))).json()["paid"] == "9000.00"
    final_early = await funds.post(pay, headers=auth(token(**FINANCE)), json={"amount": "5000.00",
                                                                             "payee": "贺兰县建工公司", "stage": "final"})
    assert final_early.status_code == 409 and final_early.json()["type"].endswith("/not-accepted")
    assert (await move(apps, token, p["id"], "inspect", **TOWNSHIP_OFFICER)).status_code == 200
    assert (await move(apps, token, p["id"], "accept", **TOWNSHIP_OFFICER)).status_code == 403
    assert (await move(apps, token, p["id"], "accept")).status_code == 200
    too_much = await funds.post(pay, headers=auth(token(**FINANCE)), json={"amount": "16000.01",
                                                                          "payee": "贺兰县建工公司", "stage": "final"})
    assert too_much.status_code == 409 and too_much.json()["type"].endswith("/over-funding")
    r = await funds.post(pay, headers=auth(token(**FINANCE)), json={"amount": "13000.00", "payee": "贺兰县建工公司",
                                                                     "stage": "final"})
    assert r.status_code == 201, r.text
    r = await move(apps, token, p["id"], "settle", **FINANCE)
    assert r.status_code == 200 and r.json()["status"] == "settled"
    assert (r.json()["funded"], r.json()["paid"], r.json()["unpaid"]) == ("25000.00", "22000.00", "0.00")
    alloc = await allocation(apps, token, industry)
    assert (alloc["available"], alloc["committed"], alloc["spent"]) == ("28000.00", "0.00", "22000.00")
    assert (await move(apps, token, p["id"], "cancel")).status_code == 409      # settled is final


async def test_money_of_another_purpose_or_region_is_an_earmark_violation(apps, token, money):  # noqa: F811
    funds = apps["funds"]
    p = await propose(apps, token)
    await move(apps, token, p["id"], "approve")
    url = f"/api/v1/projects/{p['id']}/fundings"
    for aid in (money[("education", TOWNSHIP)], money[("industry", OTHER_TOWNSHIP)]):
        r = await funds.post(url, headers=auth(token()), json={"allocation_id": aid, "amount": "100.00"})
        assert r.status_code == 409 and r.json()["type"].endswith("/earmark-violation"), r.text
    over = await funds.post(url, headers=auth(token()), json={"allocation_id": money[("industry", TOWNSHIP)],
                                                               "amount": "30000.01"})
    assert over.status_code == 409 and over.json()["type"].endswith("/over-budget")
    assert (await allocation(apps, token, money[("education", TOWNSHIP)]))["available"] == "5000.00"


async def test_concurrent_fundings_never_overdraw_the_allocation(apps, token, money):  # noqa: F811
    """Two projects of 30,000.00 each ask the same 50,000.00 industry allocation at the same time."""
    funds = apps["funds"]
    ids = []
    for name in ("肉牛养殖基地", "枸杞种植基地"):
        p = await propose(apps, token, name=name)
        await move(apps, token, p["id"], "approve")
        ids.append(p["id"])
    answers = await asyncio.gather(*(funds.post(f"/api/v1/projects/{pid}/fundings", headers=auth(token()), json={
        "allocation_id": money[("industry", TOWNSHIP)], "amount": "30000.00"}) for pid in ids))
    assert sorted(r.status_code for r in answers) == [201, 409]
    alloc = await allocation(apps, token, money[("industry", TOWNSHIP)])
    assert (alloc["available"], alloc["committed"]) == ("20000.00", "30000.00")


async def test_cancelling_gives_the_commitment_back(apps, token, money):  # noqa: F811
    funds = apps["funds"]
    p = await propose(apps, token)
    await move(apps, token, p["id"], "approve")
    await funds.post(f"/api/v1/projects/{p['id']}/fundings", headers=auth(token()),
                     json={"allocation_id": money[("industry", TOWNSHIP)], "amount": "8000.00"})
    assert (await move(apps, token, p["id"], "cancel", **TOWNSHIP_OFFICER)).status_code == 403   # approved already
    r = await move(apps, token, p["id"], "cancel")
    assert r.status_code == 200 and r.json()["unpaid"] == "0.00"
    alloc = await allocation(apps, token, money[("industry", TOWNSHIP)])
    assert (alloc["available"], alloc["committed"]) == ("50000.00", "0.00")
    last = (await funds.get(f"/api/v1/allocations/{alloc['id']}/entries", headers=auth(token()))).json()["items"][-1]
    assert (last["kind"], {(x["account"], x["amount"]) for x in last["lines"]}) == (
        "release", {("available", "8000.00"), ("committed", "-8000.00")})


async def test_proposals_are_checked_against_the_registry(apps, token, settings):  # noqa: F811
    funds = apps["funds"]
    elsewhere = await registered(apps, token, settings, village=OTHER_VILLAGE)
    body = {"name": "项目", "purpose": "industry", "village_code": VILLAGE, "budget": "100.00"}
    r = await funds.post("/api/v1/projects", headers=auth(token()), json=body | {
        "beneficiary_household_ids": [elsewhere, 777777]})
    assert r.status_code == 422 and [e["msg"] for e in r.json()["errors"]] == ["outside_region", "not_found"]
    for bad in ({"village_code": TOWNSHIP}, {"village_code": "640122100999"}, {"budget": "0"}):
        r = await funds.post("/api/v1/projects", headers=auth(token()), json=body | bad)
        assert r.status_code == 422, (bad, r.text)
    r = await funds.post("/api/v1/projects", headers=auth(token(role="township_officer", region=OTHER_TOWNSHIP)),
                         json=body)
    assert r.status_code == 422                   # another township's village
    p = await propose(apps, token)
    peek = await funds.get(f"/api/v1/projects/{p['id']}", headers=auth(token(role="township_officer",
                                                                              region=OTHER_TOWNSHIP)))
    assert peek.status_code == 404


async def _funded(apps, token, money, *, budget="30000.00", funding="30000.00", accept=False) -> int:  # noqa: F811
    funds = apps["funds"]
    p = await propose(apps, token, budget=budget)
    assert (await move(apps, token, p["id"], "approve")).status_code == 200
    r = await funds.post(f"/api/v1/projects/{p['id']}/fundings", headers=auth(token(**FINANCE)),
                         json={"allocation_id": money[("industry", TOWNSHIP)], "amount": funding})
    assert r.status_code == 201, r.text
    for action in ("start", "inspect", "accept") if accept else ("start",):
        assert (await move(apps, token, p["id"], action)).status_code == 200
    return p["id"]


async def test_a_payment_answers_what_it_created_and_the_lists_page(apps, token, money):  # noqa: F811
    """A write answers the one thing it made (201, Location), however long the project's history; the project
    answers totals, and its payments and fundings are lists of their own."""
    funds = apps["funds"]
    pid = await _funded(apps, token, money, funding="20000.00", accept=True)
    r = await funds.post(f"/api/v1/projects/{pid}/fundings", headers=auth(token(**FINANCE)),
                         json={"allocation_id": money[("industry", TOWNSHIP)], "amount": "1000.00"})
    assert r.status_code == 201 and r.headers["location"] == f"/api/v1/projects/{pid}/fundings/{r.json()['id']}"
    assert (r.json()["amount"], r.json()["project_id"], r.json()["allocation_id"]) == (
        "1000.00", pid, money[("industry", TOWNSHIP)])
    url, made = f"/api/v1/projects/{pid}/payments", []
    for n in range(5):
        r = await funds.post(url, headers=auth(token(**FINANCE)) | {"Idempotency-Key": f"pay-{n}"},
                             json={"amount": "100.00", "payee": "贺兰县建工公司", "stage": "progress"})
        assert r.status_code == 201, r.text
        assert r.headers["location"] == f"{url}/{r.json()['id']}"
        assert set(r.json()) >= {"id", "amount", "payee", "stage", "entry_ids"} and len(r.content) < 600
        made.append(r.json())
    again = await funds.post(url, headers=auth(token(**FINANCE)) | {"Idempotency-Key": "pay-4"},
                             json={"amount": "100.00", "payee": "贺兰县建工公司", "stage": "progress"})
    assert again.status_code == 201 and again.json() == made[-1] and again.headers["location"] == f"{url}/{made[-1]['id']}"
    got = await funds.get(again.headers["location"], headers=auth(token(role="auditor")))
    assert got.status_code == 200 and got.json() == made[-1]
    project = (await funds.get(f"/api/v1/projects/{pid}", headers=auth(token()))).json()
    assert "payments" not in project and "fundings" not in project
    assert (project["funded"], project["paid"], project["unpaid"]) == ("21000.00", "500.00", "20500.00")
    seen, cursor = [], None
    while True:
        page = (await funds.get(url, params={"limit": 2} | ({"cursor": cursor} if cursor else {}),
                                headers=auth(token()))).json()
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [x["id"] for x in seen] == [x["id"] for x in made]
    fundings = (await funds.get(f"/api/v1/projects/{pid}/fundings", headers=auth(token()))).json()["items"]
    assert [(f["amount"], f["spent"]) for f in fundings] == [("20000.00", "500.00"), ("1000.00", "0.00")]
    for path in (url, f"/api/v1/projects/{pid}/fundings"):
        forged = await funds.get(path, params={"cursor": "eyJpZCI6LTF9"}, headers=auth(token()))
        assert forged.status_code == 400 and forged.headers["content-type"] == "application/problem+json"
        elsewhere = await funds.get(path, headers=auth(token(role="township_officer", region=OTHER_TOWNSHIP)))
        assert elsewhere.status_code == 404
    other = await propose(apps, token, name="另一个项目")
    assert (await funds.get(f"/api/v1/projects/{other['id']}/payments/{made[0]['id']}",
                            headers=auth(token()))).status_code == 404


async def test_before_acceptance_payments_stay_within_the_advance_share(apps, token, money):  # noqa: F811
    funds = apps["funds"]
    pid = await _funded(apps, token, money)
    assert (await funds.get(f"/api/v1/projects/{pid}", headers=auth(token()))).json()["advance_limit"] == "9000.00"
    url = f"/api/v1/projects/{pid}/payments"

    async def pay(amount: str, stage: str = "advance"):
        return await funds.post(url, headers=auth(token(**FINANCE)), json={"amount": amount, "payee": "贺兰县建工公司",
                                                                           "stage": stage})
    assert (await pay("6000.00")).status_code == 201
    beyond = await pay("3000.01", "progress")
    assert beyond.status_code == 409 and beyond.json()["type"].endswith("/advance-limit"), beyond.text
    assert (beyond.json()["limit"], beyond.json()["paid"], beyond.json()["share"]) == ("9000.00", "6000.00", "0.3")
    assert "30%" in beyond.json()["detail"] and "3000.00 more" in beyond.json()["detail"]
    assert (await pay("3000.00", "progress")).status_code == 201
    assert (await pay("0.01", "progress")).status_code == 409
    for action in ("inspect", "accept"):
        assert (await move(apps, token, pid, action)).status_code == 200
    assert (await pay("21000.00", "final")).status_code == 201               # after 验收 the rest may be paid
    alloc = await allocation(apps, token, money[("industry", TOWNSHIP)])
    assert (alloc["spent"], alloc["committed"]) == ("30000.00", "0.00")


def test_the_advance_share_is_the_countys_setting(monkeypatch):
    from pydantic import ValidationError

    from shared.settings import Settings
    assert Settings().advance_share == Decimal("0.3")
    monkeypatch.setenv("JINGZHUN_ADVANCE_SHARE", "0.5")
    assert Settings().advance_share == Decimal("0.5")
    monkeypatch.setenv("JINGZHUN_ADVANCE_SHARE", "1.5")
    with pytest.raises(ValidationError):
        Settings()


async def test_a_refused_earmark_attempt_is_kept_in_the_audit_chain(apps, token, money):  # noqa: F811
    """The spend is refused and moves nothing, yet the audit chain says who tried to spend what on what."""
    funds = apps["funds"]
    p = await propose(apps, token)
    await move(apps, token, p["id"], "approve")
    education = money[("education", TOWNSHIP)]
    r = await funds.post(f"/api/v1/projects/{p['id']}/fundings", headers=auth(token(**FINANCE)),
                         json={"allocation_id": education, "amount": "100.00"})
    assert r.status_code == 409 and r.json()["type"].endswith("/earmark-violation")
    assert (await allocation(apps, token, education))["available"] == "5000.00"
    events = (await funds.get("/api/v1/audit/events", params={"service": "funds", "entity": "allocation",
                                                               "entity_id": str(education)},
                              headers=auth(token(role="auditor")))).json()["items"]
    refused = [e for e in events if e["action"] == "ledger.refused"]
    assert len(refused) == 1
    assert refused[0]["actor"] == "u-finance"
    assert {k: refused[0]["diff"][k] for k in ("problem", "purpose", "region_code", "amount", "target",
                                                "target_purpose", "target_region")} == {
        "problem": "earmark-violation", "purpose": "education", "region_code": TOWNSHIP, "amount": "100.00",
        "target": f"project:{p['id']}", "target_purpose": "industry", "target_region": VILLAGE}
    assert not any(e["action"] == "project.fund" for e in (await funds.get(
        "/api/v1/audit/events", params={"service": "funds", "entity": "project"},
        headers=auth(token(role="auditor")))).json()["items"])
    chains = (await funds.get("/api/v1/audit/verify", headers=auth(token(role="auditor")))).json()["chains"]
    assert chains["funds"]["ok"] is True
