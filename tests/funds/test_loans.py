"""扶贫小额信贷 (CONTRACT §7): banks' events stored once and applied in occurred_at order, one bank never sees
another's loans, 贴息 by the day paid once from a loan_interest allocation, and the loan statistics."""

import pytest

from shared.testing import auth
from tests.conftest import COUNTY, TOWNSHIP
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)

NX = {"role": "bank", "region": COUNTY, "sub": "client-nx", "bank": "NXRCU"}
YC = {"role": "bank", "region": COUNTY, "sub": "client-yc", "bank": "YCBANK"}


async def head_id(apps, token, hid: int) -> str:  # noqa: F811
    h = (await apps["registry"].get(f"/api/v1/households/{hid}", headers=auth(token()))).json()
    return next(m["id_number"] for m in h["members"] if m["relation"] == "head")


@pytest.fixture
async def borrower(apps, token, settings) -> dict:  # noqa: F811
    hid = await registered(apps, token, settings)
    return {"household_id": hid, "id_number": await head_id(apps, token, hid)}


def event(borrower: dict, event_id: str, kind: str, at: str, loan_no: str = "NX2020-0001", **kw) -> dict:
    return {"event_id": event_id, "loan_no": loan_no, "id_number": borrower["id_number"], "kind": kind,
            "occurred_at": at, **kw}


async def post(apps, token, body: dict, who: dict = NX, key: str | None = None):  # noqa: F811
    return await apps["funds"].post("/api/v1/bank/loan-events", json=body,
                                    headers=auth(token(**who)) | {"Idempotency-Key": key or body["event_id"]})


async def test_a_loan_is_what_its_events_say_in_occurred_at_order(apps, token, borrower):  # noqa: F811
    issued = event(borrower, "e2", "issued", "2020-02-01T10:00:00+08:00", amount="50000.00", rate="0.0435",
                   term_months=36)
    repaid = event(borrower, "e3", "repaid", "2020-08-01T09:00:00+08:00", amount="20000.00")
    rated = event(borrower, "e1", "rated", "2020-01-05T09:00:00+08:00", credit_line="50000.00", rating="AA")
    for body in (repaid, issued):            # the repayment arrives before the loan it repays
        r = await post(apps, token, body)
        assert r.status_code == 201, r.text
    again = await post(apps, token, repaid, key="retry-of-e3")          # a duplicate under a new key
    assert again.status_code == 200 and again.json()["stored"] is False
    r = await post(apps, token, rated)                                  # late
    loan = r.json()["loan"]
    assert (loan["status"], loan["principal"], loan["outstanding"], loan["credit_line"], loan["rating"]) == (
        "repaying", "50000.00", "30000.00", "50000.00", "AA")
    assert loan["status_label"] == "还款中"
    listed = (await apps["funds"].get("/api/v1/loans?status=repaying", headers=auth(token()))).json()["items"]
    assert [x["loan_no"] for x in listed] == ["NX2020-0001"]
    assert [e["event_id"] for e in loan["events"]] == ["e1", "e2", "e3"]
    assert (loan["issued_on"], loan["matures_on"], loan["term_months"]) == ("2020-02-01", "2023-02-01", 36)
    assert loan["household_id"] == borrower["household_id"] and "*" in loan["id_number"]
    got = (await apps["funds"].get("/api/v1/loans/NX2020-0001", headers=auth(token()))).json()
    assert got["outstanding"] == "30000.00" and got["bank_code"] == "NXRCU"

    reused = await post(apps, token, repaid | {"amount": "25000.00"}, key="other")
    assert reused.status_code == 409 and reused.json()["type"].endswith("/event-id-reused")
    r = await post(apps, token, event(borrower, "e4", "overdue", "2021-02-02T00:00:00+08:00"))
    assert r.json()["loan"]["status"] == "overdue" and r.json()["loan"]["days_overdue"] > 600
    r = await post(apps, token, event(borrower, "e5", "settled", "2021-03-01T00:00:00+08:00"))
    assert (r.json()["loan"]["status"], r.json()["loan"]["outstanding"]) == ("settled", "0.00")


async def test_a_bank_sees_and_changes_only_its_own_loans(apps, token, borrower):  # noqa: F811
    await post(apps, token, event(borrower, "e1", "issued", "2020-02-01T10:00:00+08:00", amount="10000.00",
                                  rate="0.0435", term_months=12))
    funds = apps["funds"]
    other = await post(apps, token, event(borrower, "y1", "repaid", "2020-03-01T10:00:00+08:00", amount="10000.00"),
                       who=YC)
    assert other.status_code == 404
    assert (await funds.get("/api/v1/loans/NX2020-0001", headers=auth(token(**YC)))).status_code == 404
    assert (await funds.get("/api/v1/loans", headers=auth(token(**YC)))).json()["items"] == []
    mine = (await funds.get("/api/v1/loans", headers=auth(token(**NX)))).json()["items"]
    assert [x["loan_no"] for x in mine] == ["NX2020-0001"] and mine[0]["outstanding"] == "10000.00"
    staff = await funds.post("/api/v1/bank/loan-events", headers=auth(token()) | {"Idempotency-Key": "k"},
                             json=event(borrower, "z", "repaid", "2020-03-01T10:00:00+08:00", amount="1.00"))
    assert staff.status_code == 403


async def test_bad_loan_events_are_refused_and_change_nothing(apps, token, borrower):  # noqa: F811
    funds = apps["funds"]
    stranger = borrower | {"id_number": "11010519491231002X"}       # valid, but in no household
    r = await post(apps, token, event(stranger, "s1", "rated", "2020-01-01T00:00:00+08:00", credit_line="1.00"))
    assert r.status_code == 422 and "not a member" in r.text
    for body in (event(borrower, "b1", "issued", "2020-01-01T00:00:00+08:00", amount="100.00"),       # no rate
                 event(borrower, "b2", "repaid", "2020-01-01T00:00:00"),                                  # naive
                 event(borrower, "b3", "defaulted", "2099-01-01T00:00:00+08:00"),                         # future
                 event(borrower, "b4", "issued", "2020-01-01T00:00:00+08:00", amount="100.00", rate="2",
                       term_months=12)):
        r = await post(apps, token, body)
        assert r.status_code == 422, (body, r.text)
    no_key = await funds.post("/api/v1/bank/loan-events", headers=auth(token(**NX)),
                              json=event(borrower, "n1", "rated", "2020-01-01T00:00:00+08:00", credit_line="1.00"))
    assert no_key.status_code == 422
    assert (await funds.get("/api/v1/loans", headers=auth(token()))).json()["items"] == []


async def test_interest_subsidy_by_the_day_paid_once(apps, token, settings, borrower):  # noqa: F811
    """36,000.00 at 3.6% is 3.60 a day; 18,000.00 repaid on 11 January accrues no more from that day."""
    funds = apps["funds"]
    await post(apps, token, event(borrower, "i1", "issued", "2020-01-01T09:00:00+08:00", amount="36000.00",
                                  rate="0.036", term_months=12))
    await post(apps, token, event(borrower, "i2", "repaid", "2020-01-11T09:00:00+08:00", amount="18000.00"))
    pending = await registered(apps, token, settings, status="pending")      # not subsidized
    pending_id = await head_id(apps, token, pending)
    await post(apps, token, {"event_id": "p1", "loan_no": "NX2020-0002", "id_number": pending_id, "kind": "issued",
                             "occurred_at": "2020-01-01T09:00:00+08:00", "amount": "10000.00", "rate": "0.036",
                             "term_months": 12})
    source = (await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "贴息资金", "level": "county", "doc_no": "贺财〔2020〕3号", "year": 2020})).json()["id"]
    ids = {}
    for purpose in ("loan_interest", "industry"):
        r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
            "source_id": source, "region_code": TOWNSHIP, "purpose": purpose, "amount": "1000.00", "year": 2020,
            "doc_no": "贺财〔2020〕4号"})
        ids[purpose] = r.json()["id"]
    url = "/api/v1/loans/interest-subsidies"
    january = {"period_start": "2020-01-01", "period_end": "2020-01-31", "allocation_id": ids["loan_interest"]}
    r = await funds.post(url, headers=auth(token(role="finance_officer")), json=january)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == "73.80" and r.json()["lines"] == [
        {"loan_no": "NX2020-0001", "days": 31, "amount": "73.80"}]
    again = await funds.post(url, headers=auth(token(role="finance_officer")), json=january)
    assert again.json()["total"] == "0.00" and again.json()["lines"] == []
    overlap = await funds.post(url, headers=auth(token()), json=january | {"period_start": "2020-01-15",
                                                                            "period_end": "2020-02-10"})
    assert overlap.json()["lines"] == [{"loan_no": "NX2020-0001", "days": 10, "amount": "18.00"}]
    alloc = (await funds.get(f"/api/v1/allocations/{ids['loan_interest']}", headers=auth(token()))).json()
    assert (alloc["spent"], alloc["available"]) == ("91.80", "908.20")
    wrong = await funds.post(url, headers=auth(token()), json=january | {"allocation_id": ids["industry"]})
    assert wrong.status_code == 409 and wrong.json()["type"].endswith("/earmark-violation")
    backwards = await funds.post(url, headers=auth(token()), json=january | {"period_end": "2019-12-31"})
    assert backwards.status_code == 422


async def test_loan_statistics(apps, token, settings, borrower):  # noqa: F811
    second = await registered(apps, token, settings)
    second_id = await head_id(apps, token, second)
    await post(apps, token, event(borrower, "a1", "rated", "2020-01-01T09:00:00+08:00", credit_line="50000.00"))
    await post(apps, token, event(borrower, "a2", "issued", "2020-01-02T09:00:00+08:00", amount="40000.00",
                                  rate="0.0435", term_months=36))
    await post(apps, token, event(borrower, "a3", "repaid", "2020-06-02T09:00:00+08:00", amount="10000.00"))
    await post(apps, token, event(borrower, "a4", "overdue", "2021-01-03T09:00:00+08:00"))
    b = {"id_number": second_id}
    await post(apps, token, event(b, "b1", "issued", "2020-01-02T09:00:00+08:00", loan_no="NX2020-0002",
                                  amount="20000.00", rate="0.0435", term_months=12))
    await post(apps, token, event(b, "b2", "repaid", "2020-06-02T09:00:00+08:00", loan_no="NX2020-0002",
                                  amount="5000.00"))
    await post(apps, token, event(b, "b3", "defaulted", "2021-02-01T09:00:00+08:00", loan_no="NX2020-0002"))
    r = await apps["funds"].get(f"/api/v1/stats/loans?region={TOWNSHIP}", headers=auth(token()))
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["households_rated"], s["credit_granted"], s["loans_issued"], s["amount_issued"]) == (
        1, "50000.00", 2, "60000.00")
    assert (s["outstanding"], s["overdue_outstanding"], s["overdue_rate"]) == ("30000.00", "30000.00", 1.0)
    assert (s["repaid"], s["compensated"], s["recovery_rate"]) == ("15000.00", "15000.00", 0.5)
    assert s["loans_by_status"] == {"rated": 0, "issued": 0, "repaying": 0, "overdue": 1, "extended": 0,
                                    "settled": 0, "defaulted": 1}
    peek = await apps["funds"].get(f"/api/v1/stats/loans?region={TOWNSHIP}",
                                   headers=auth(token(role="township_officer", region="640122101000")))
    assert peek.status_code == 404
