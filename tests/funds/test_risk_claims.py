"""风险补偿 (CONTRACT §7): a defaulted loan opens one claim; review, then a second county_admin's approval pays
JINGZHUN_RISK_SHARE of the defaulted principal from a risk_compensation allocation of the borrower's region in a
balanced ledger entry; reject; four eyes, region scoping, idempotent retries, audit."""

from shared.testing import auth, seal_chain
from tests.conftest import COUNTY, TOWNSHIP
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)
from tests.funds.test_loans import borrower, event, head_id, post  # noqa: F401  (fixtures)

B = {"sub": "u-admin-b"}


async def defaulted(apps, token, borrower, loan_no: str, principal: str = "20000.00",  # noqa: F811
                    repaid: str = "5000.00") -> None:
    for e in (event(borrower, f"{loan_no}-1", "issued", "2020-01-02T09:00:00+08:00", loan_no=loan_no,
                    amount=principal, rate="0.0435", term_months=12),
              event(borrower, f"{loan_no}-2", "repaid", "2020-06-02T09:00:00+08:00", loan_no=loan_no, amount=repaid),
              event(borrower, f"{loan_no}-3", "defaulted", "2021-02-01T09:00:00+08:00", loan_no=loan_no)):
        r = await post(apps, token, e)
        assert r.status_code == 201, r.text


async def fund(apps, token, region: str, amount: str) -> int:  # noqa: F811
    funds = apps["funds"]
    source = (await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "风险补偿金", "level": "county", "doc_no": "贺财〔2020〕9号", "year": 2020})).json()["id"]
    r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
        "source_id": source, "region_code": region, "purpose": "risk_compensation", "amount": amount, "year": 2020,
        "doc_no": "贺财〔2020〕10号"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_a_defaulted_loan_is_compensated_after_two_county_admins(apps, token, borrower, funds_db, settings):  # noqa: F811
    funds = apps["funds"]
    await defaulted(apps, token, borrower, "NX-D1")
    again = await post(apps, token, event(borrower, "NX-D1-3", "defaulted", "2021-02-01T09:00:00+08:00",
                                          loan_no="NX-D1"), key="again")
    assert again.status_code == 200
    claims = (await funds.get(f"/api/v1/risk-claims?region={TOWNSHIP}&status=open", headers=auth(token()))).json()
    assert len(claims["items"]) == 1
    claim = claims["items"][0]
    assert (claim["loan_no"], claim["principal"], claim["share"], claim["amount"], claim["status_label"]) == (
        "NX-D1", "15000.00", "0.7000", "10500.00", "待审核")
    url = f"/api/v1/risk-claims/{claim['id']}"
    assert (await funds.post(f"{url}/approve", headers=auth(token(**B)))).status_code == 409     # not reviewed
    assert (await funds.post(f"{url}/review", headers=auth(token(role="finance_officer")))).status_code == 403
    r = await funds.post(f"{url}/review", headers=auth(token()), json={"note": "核实代偿凭证"})
    assert r.status_code == 200 and r.json()["status"] == "reviewed" and r.json()["reviewed_by"] == "u-admin"
    assert (await funds.post(f"{url}/approve", headers=auth(token()))).status_code == 403      # the reviewer
    none = await funds.post(f"{url}/approve", headers=auth(token(**B)))
    assert none.status_code == 409 and none.json()["type"].endswith("/no-risk-fund")
    small = await fund(apps, token, TOWNSHIP, "100.00")
    short = await funds.post(f"{url}/approve", headers=auth(token(**B)))
    assert short.status_code == 409 and short.json()["type"].endswith("/insufficient-funds")
    county = await fund(apps, token, COUNTY, "20000.00")
    key = {"Idempotency-Key": "approve-1"}
    paid = await funds.post(f"{url}/approve", headers=auth(token(**B)) | key)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["allocation_id"], paid.json()["decided_by"]) == (
        "paid", county, "u-admin-b")
    retry = await funds.post(f"{url}/approve", headers=auth(token(**B)) | key)
    assert retry.json() == paid.json()
    a = (await funds.get(f"/api/v1/allocations/{county}", headers=auth(token()))).json()
    assert (a["spent"], a["available"]) == ("10500.00", "9500.00")
    s = (await funds.get(f"/api/v1/allocations/{small}", headers=auth(token()))).json()
    assert s["spent"] == "0.00"
    assert await funds_db.fetchval("SELECT count(*) FROM ledger_entry WHERE ref = $1", f"risk_claim:{claim['id']}") == 1
    await seal_chain(settings, "funds")
    actions = [r["action"] for r in await funds_db.fetch(
        "SELECT action FROM audit_log WHERE entity = 'risk_claim' ORDER BY seq")]
    assert actions == ["risk_claim.opened", "risk_claim.reviewed", "risk_claim.paid"]
    assert (await funds.post(f"{url}/reject", headers=auth(token()), json={"reason": "晚了"})).status_code == 409


async def test_a_claim_can_be_rejected_and_is_hidden_outside_its_region(apps, token, borrower):  # noqa: F811
    funds = apps["funds"]
    await defaulted(apps, token, borrower, "NX-D2", principal="1000.00", repaid="1.00")
    [claim] = (await funds.get("/api/v1/risk-claims", headers=auth(token()))).json()["items"]
    assert claim["amount"] == "699.30"                 # 999.00 × 0.7
    url = f"/api/v1/risk-claims/{claim['id']}"
    other = token(role="township_officer", region="640122101000")
    assert (await funds.get(url, headers=auth(other))).status_code == 404
    assert (await funds.get("/api/v1/risk-claims?region=640122100000", headers=auth(other))).status_code == 404
    assert (await funds.get("/api/v1/risk-claims", headers=auth(other))).json()["items"] == []
    r = await funds.post(f"{url}/reject", headers=auth(token()), json={"reason": "代偿资料不全"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["note"]) == ("rejected", "代偿资料不全")
    assert (await funds.post(f"{url}/approve", headers=auth(token(**B)))).status_code == 409
    got = await funds.get(url, headers=auth(token()))
    assert got.headers["etag"] == f'"{got.json()["version"]}"'
    stale = await funds.post(f"{url}/review", headers=auth(token()) | {"If-Match": '"1"'})
    assert stale.status_code == 412
    rejected = (await funds.get("/api/v1/risk-claims?status=rejected", headers=auth(token()))).json()["items"]
    assert [x["id"] for x in rejected] == [claim["id"]]


async def test_the_largest_id_with_an_idempotency_key_is_simply_not_found(apps, token):  # noqa: F811
    """An id past JSON's exact integers still fingerprints the request (the key's record), and answers 404."""
    funds = apps["funds"]
    for action in ("review", "approve"):
        r = await funds.post(f"/api/v1/risk-claims/9223372036854775807/{action}",
                             headers={**auth(token()), "Idempotency-Key": f"big-{action}"})
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json"), r.text
