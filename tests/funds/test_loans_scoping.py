"""Who reads which loans (loans/repository.readable): a bank its own bank's, wherever they are; an officer its
region's; any other loan is not found, and a region outside the caller's is 404."""

from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)
from tests.funds.test_loans import NX, borrower, event, post  # noqa: F401  (fixtures)

ELSEWHERE = {"role": "township_officer", "region": OTHER_TOWNSHIP, "sub": "u-other"}
HERE = {"role": "township_officer", "region": TOWNSHIP, "sub": "u-here"}


async def test_an_officer_reads_the_loans_of_their_region_only(apps, token, borrower):  # noqa: F811
    r = await post(apps, token, event(borrower, "e1", "issued", "2020-02-01T10:00:00+08:00", amount="10000.00",
                                      rate="0.0435", term_months=12))
    assert r.status_code == 201, r.text
    funds = apps["funds"]
    assert (await funds.get("/api/v1/loans/NX2020-0001", headers=auth(token(**HERE)))).status_code == 200
    assert [x["loan_no"] for x in (await funds.get("/api/v1/loans", headers=auth(token(**HERE)))).json()["items"]
            ] == ["NX2020-0001"]
    hidden = await funds.get("/api/v1/loans/NX2020-0001", headers=auth(token(**ELSEWHERE)))
    assert hidden.status_code == 404 and hidden.json()["detail"] == "No such loan"
    assert (await funds.get("/api/v1/loans", headers=auth(token(**ELSEWHERE)))).json()["items"] == []
    outside = await funds.get("/api/v1/loans", params={"region": TOWNSHIP}, headers=auth(token(**ELSEWHERE)))
    assert outside.status_code == 404 and outside.json()["detail"] == "No such region"
    named = await funds.get("/api/v1/loans", params={"region": TOWNSHIP}, headers=auth(token(**NX)))
    assert [x["loan_no"] for x in named.json()["items"]] == ["NX2020-0001"]
    assert (await funds.get("/api/v1/loans", params={"region": OTHER_TOWNSHIP},
                            headers=auth(token(**NX)))).json()["items"] == []
