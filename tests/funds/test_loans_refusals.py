"""Refused loan events are kept with the problem they were answered with, for the bank that posted them only;
the same refused event_id twice is one row; a later accepted post of it says so."""

from shared.testing import auth
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)
from tests.funds.test_loans import NX, YC, borrower, event, head_id, post  # noqa: F401  (fixtures)

URL = "/api/v1/bank/loan-events/rejected"


async def rejected(apps, token, who=NX, **params):  # noqa: F811
    r = await apps["funds"].get(URL, params=params, headers=auth(token(**who)))
    assert r.status_code == 200, r.text
    return r.json()


async def test_refused_events_are_kept_for_their_bank(apps, token, borrower, funds_db):  # noqa: F811
    issued = event(borrower, "r1", "issued", "2020-02-01T10:00:00+08:00", amount="1000.00", rate="0.0435",
                   term_months=12)
    assert (await post(apps, token, issued)).status_code == 201
    too_much = event(borrower, "r2", "repaid", "2020-03-01T10:00:00+08:00", amount="1500.00")
    first = await post(apps, token, too_much)
    assert first.status_code == 409 and first.json()["type"].endswith("/impossible-event")
    assert "only 1000.00 was outstanding" in first.json()["detail"]
    again = await post(apps, token, too_much, key="retry-r2")
    assert again.status_code == 409 and again.json() == first.json()
    stranger = borrower | {"id_number": "11010519491231002X"}
    assert (await post(apps, token, event(stranger, "r3", "rated", "2020-01-01T00:00:00+08:00",
                                          credit_line="1.00", loan_no="NX-9"))).status_code == 422
    bad = event(borrower, "r4", "repaid", "2020-03-01T10:00:00+08:00", amount="-5.00")
    assert (await post(apps, token, bad)).status_code == 422
    theirs = await post(apps, token, event(borrower, "y1", "repaid", "2020-03-01T10:00:00+08:00", amount="1.00"),
                        who=YC)
    assert theirs.status_code == 404

    mine = await rejected(apps, token)
    by_id = {x["event_id"]: x for x in mine["items"]}
    assert set(by_id) == {"r2", "r3", "r4"}
    assert (by_id["r2"]["status"], by_id["r2"]["attempts"], by_id["r2"]["reason"]) == (
        409, 2, first.json()["detail"])
    assert by_id["r2"]["body"]["amount"] == "1500.00" and "*" in by_id["r2"]["body"]["id_number"]
    assert by_id["r3"]["status"] == 422 and "not a member" in by_id["r3"]["reason"]
    assert by_id["r4"]["errors"] and by_id["r4"]["errors"][0]["loc"][-1] == "amount"
    assert [x["event_id"] for x in (await rejected(apps, token, who=YC))["items"]] == ["y1"]
    assert await funds_db.fetchval("SELECT count(*) FROM loan_event_rejection WHERE event_id = 'r2'") == 1
    loan = (await apps["funds"].get("/api/v1/loans/NX2020-0001", headers=auth(token()))).json()
    assert loan["outstanding"] == "1000.00" and [e["event_id"] for e in loan["events"]] == ["r1"]

    fixed = await post(apps, token, too_much | {"amount": "500.00"}, key="fixed-r2")
    assert fixed.status_code == 201
    later = {x["event_id"]: x for x in (await rejected(apps, token))["items"]}
    assert later["r2"]["accepted_at"] is not None and later["r3"]["accepted_at"] is None


async def test_the_refused_list_pages_and_refuses_a_forged_cursor(apps, token, borrower):  # noqa: F811
    for i in range(3):
        await post(apps, token, event(borrower, f"x{i}", "issued", "2020-02-01T10:00:00+08:00", amount="1.00"))
    page1 = await rejected(apps, token, limit=2)
    assert [x["event_id"] for x in page1["items"]] == ["x2", "x1"] and page1["next_cursor"]
    page2 = await rejected(apps, token, limit=2, cursor=page1["next_cursor"])
    assert [x["event_id"] for x in page2["items"]] == ["x0"] and page2["next_cursor"] is None
    forged = await apps["funds"].get(URL, params={"cursor": "eyJpZCI6ICJ4In0"}, headers=auth(token(**NX)))
    assert forged.status_code == 400
    staff = await apps["funds"].get(URL, headers=auth(token()))
    assert staff.status_code == 403
    nan = await apps["funds"].post("/api/v1/bank/loan-events", content=(
        '{"event_id": "x9", "loan_no": "NX-1", "id_number": "%s", "kind": "repaid", "amount": NaN,'
        ' "occurred_at": "2020-02-01T10:00:00+08:00"}' % borrower["id_number"]),
        headers=auth(token(**NX)) | {"Idempotency-Key": "nan", "Content-Type": "application/json"})
    assert nan.status_code == 422
    assert (await rejected(apps, token, limit=1))["items"][0]["body"]["amount"] == "nan"


async def test_a_banks_developer_finds_every_kind_and_problem_in_the_docs(apps):  # noqa: F811
    spec = (await apps["funds"].get("/openapi.json")).json()
    op = spec["paths"]["/api/v1/bank/loan-events"]["post"]
    examples = op["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == {"rated", "issued", "repaid", "overdue", "extended", "settled", "defaulted"}
    assert all(x["value"]["kind"] == k for k, x in examples.items())
    assert examples["issued"]["value"]["amount"] == "50000.00" and examples["issued"]["value"]["term_months"] == 36
    answers = {code: r["content"] for code, r in op["responses"].items()}
    assert answers["200"]["application/json"]["examples"]["duplicate"]["value"]["stored"] is False
    assert answers["201"]["application/json"]["examples"]["stored"]["value"]["loan"]["status"] == "repaying"
    problems = {code: answers[code]["application/problem+json"]["examples"] for code in ("404", "409", "422")}
    assert problems["409"]["impossible"]["value"]["type"].endswith("/impossible-event")
    assert "unknown-borrower" in problems["422"] and "another-banks-loan" in problems["404"]
    assert any(p["name"].lower() == "idempotency-key" and p["required"] for p in op["parameters"])
    listed = spec["paths"]["/api/v1/bank/loan-events/rejected"]["get"]
    assert listed["responses"]["200"]["content"]["application/json"]["example"]["items"][0]["status"] == 409
