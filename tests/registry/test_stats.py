"""Statistics (CONTRACT §4) on a small county whose households went through the real lifecycle.

    village 欣荣村 (洪广镇, 20,000 rural people)          village 银河村 (金贵镇, 18,000)
    A dibao/illness 2 people: registered 2016, exited 2020      D dibao/disability 4: pending, identified 2020
    B general/lack_funds 3: registered 2016, exited 2019,       E general/illness 2: registered 2018,
      returned 2020                                                 removed 2020
    C tekun/illness 1: identified 2020, registered 2020, helper
"""

import pytest

from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE, create_user, household, member
from tests.registry.test_lifecycle import move, ready_to_exit


def people(n: int) -> list[dict]:
    return [member("head")] + [member("son") for _ in range(n - 1)]


async def new(stack, token, village: str, attribute: str, cause: str, n: int, identified: int = 2016) -> int:
    body = household(village, members=people(n), attribute=attribute, main_cause=cause, other_causes=[],
                     identified_year=identified)
    r = await stack.registry.post("/api/v1/households", json=body, headers=auth(token()))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def register(stack, token, hid: int, year: int) -> None:
    r = await move(stack, token, hid, {"action": "propose_registration", "year": year})
    assert r.status_code == 200, r.text
    assert await stack.close_notice(r.json()["pending_action"]["notice_id"], "registration", {hid: False})


async def exit_(stack, token, hid: int, year: int) -> None:
    await ready_to_exit(stack, token, hid, year)
    r = await stack.registry.put(f"/api/v1/households/{hid}/incomes/{year}", headers=auth(token()), json={
        "wage": "30000.00", "production": "0", "transfer": "0", "property": "0", "expenses": "0"})
    assert r.status_code == 200, r.text
    r = await move(stack, token, hid, {"action": "propose_exit", "year": year})
    assert r.status_code == 200, r.text
    assert await stack.close_notice(r.json()["pending_action"]["notice_id"], "exit", {hid: False})


@pytest.fixture
async def county(stack, token):
    admin = auth(token())
    a = await new(stack, token, VILLAGE, "dibao", "illness", 2)
    b = await new(stack, token, VILLAGE, "general", "lack_funds", 3)
    c = await new(stack, token, VILLAGE, "tekun", "illness", 1, identified=2020)
    d = await new(stack, token, OTHER_VILLAGE, "dibao", "disability", 4, identified=2020)
    e = await new(stack, token, OTHER_VILLAGE, "general", "illness", 2)
    await register(stack, token, a, 2016)
    await register(stack, token, b, 2016)
    await register(stack, token, e, 2018)
    await register(stack, token, c, 2020)
    await exit_(stack, token, b, 2019)
    await exit_(stack, token, a, 2020)
    for hid, action in ((b, "mark_returned"), (e, "remove")):
        r = await move(stack, token, hid, {"action": action, "reason": "核查", "year": 2020})
        assert r.status_code == 200, r.text
    for hid, batch, year in ((a, "production", 2020), (a, "education", 2020), (c, "production", 2019),
                             (b, "social_security", 2020)):
        r = await stack.registry.post(f"/api/v1/households/{hid}/measures", headers=admin,
                                      json={"batch": batch, "kind": "措施", "year": year})
        assert r.status_code == 201, r.text
    helper = await create_user(stack, token, username="wang.helper", role="helper", region=VILLAGE)
    r = await stack.registry.put(f"/api/v1/households/{c}/helper", json={"user_id": helper}, headers=admin)
    assert r.status_code == 200, r.text
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "helper": helper}


def by_code(items: list[dict]) -> dict[str, dict]:
    return {i["code"]: i for i in items}


async def stats(stack, token, code: str, year: int | None = 2020, **kw):
    q = f"?year={year}" if year else ""
    return await stack.registry.get(f"/api/v1/stats/regions/{code}{q}", headers=auth(token(**kw)))


async def test_county_figures_per_status_attribute_cause_batch_and_year(stack, token, county):
    r = await stats(stack, token, COUNTY)
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["code"], s["name"], s["level"], s["year"]) == (COUNTY, "贺兰县", "county", 2020)
    status = by_code(s["by_status"])
    assert {c: (v["households"], v["persons"]) for c, v in status.items()} == {
        "pending": (1, 4), "registered": (1, 1), "exited": (1, 2), "returned": (1, 3), "removed": (1, 2),
        "ordinary": (0, 0)}
    assert status["returned"]["label"] == "返贫" and status["exited"]["label"] == "已脱贫"
    assert (s["households"], s["persons"]) == (5, 12)
    assert (s["register_households"], s["register_persons"], s["poor_households"], s["poor_persons"]) == (3, 6, 2, 4)

    attribute = by_code(s["by_attribute"])     # households in the register (A, B, C), with the still-poor part
    assert {c: (v["households"], v["persons"], v["poor_households"], v["poor_persons"])
            for c, v in attribute.items()} == {"general": (1, 3, 1, 3), "dibao": (1, 2, 0, 0), "tekun": (1, 1, 1, 1)}
    assert attribute["tekun"]["label"] == "特困供养贫困户"
    cause = by_code(s["by_main_cause"])
    assert (cause["illness"]["households"], cause["illness"]["persons"], cause["illness"]["poor_households"]) == (2, 3, 1)
    assert cause["lack_funds"]["households"] == 1 and cause["disability"]["households"] == 0   # D is pending
    assert cause["illness"]["label"] == "因病" and len(cause) == 11

    batch = by_code(s["by_batch"])
    assert (batch["production"]["households"], batch["production"]["measures"]) == (1, 1)   # C's was in 2019
    assert batch["education"]["households"] == 1 and batch["social_security"]["households"] == 1
    assert batch["relocation"] == {"code": "relocation", "label": "易地搬迁", "households": 0, "measures": 0}

    assert s["in_year"] == {"new": {"households": 1, "persons": 1}, "exits": {"households": 1, "persons": 2},
                            "returns": {"households": 1, "persons": 3}, "removals": {"households": 1, "persons": 2},
                            "identified": {"households": 2, "persons": 5}}
    assert s["helper_coverage"] == {"households": 2, "with_helper": 1, "share": 0.5}
    assert s["rural_population"] == 120000
    assert s["poverty_incidence"] == pytest.approx(4 / 120000, abs=1e-6)


async def test_children_carry_the_same_figures_and_their_own_incidence(stack, token, county):
    s = (await stats(stack, token, COUNTY)).json()
    children = by_code(s["children"])
    assert list(children) == [TOWNSHIP, OTHER_TOWNSHIP]
    hong, jin = children[TOWNSHIP], children[OTHER_TOWNSHIP]
    assert hong["name"] == "洪广镇" and hong["level"] == "township" and "children" not in hong
    assert (hong["households"], hong["poor_persons"], hong["poverty_incidence"]) == (3, 4, 0.0002)
    assert (jin["households"], jin["poor_persons"], jin["poverty_incidence"]) == (2, 0, 0.0)
    assert jin["in_year"]["removals"] == {"households": 1, "persons": 2}
    assert by_code(jin["by_status"])["pending"]["persons"] == 4
    # the county's figures are the children's sums
    for key in ("households", "persons", "poor_persons"):
        assert s[key] == hong[key] + jin[key]
    township = (await stats(stack, token, TOWNSHIP)).json()
    [village] = township["children"]
    assert village["code"] == VILLAGE and village["poverty_incidence"] == pytest.approx(4 / 900, abs=1e-6)
    assert village["helper_coverage"]["share"] == 0.5
    leaf = (await stats(stack, token, VILLAGE)).json()
    assert leaf["children"] == [] and leaf["households"] == 3


async def test_year_counts_follow_the_year_asked(stack, token, county):
    y2019 = (await stats(stack, token, COUNTY, 2019)).json()["in_year"]
    assert y2019["exits"] == {"households": 1, "persons": 3} and y2019["new"]["households"] == 0
    assert y2019["returns"]["households"] == 0 and y2019["identified"]["households"] == 0
    y2016 = (await stats(stack, token, COUNTY, 2016)).json()
    assert y2016["in_year"]["new"] == {"households": 2, "persons": 5}
    assert y2016["in_year"]["identified"] == {"households": 2, "persons": 5}   # A and B (E was removed)
    assert by_code(y2016["by_batch"])["production"]["households"] == 0
    y2019_batches = by_code((await stats(stack, token, COUNTY, 2019)).json()["by_batch"])
    assert y2019_batches["production"] == {"code": "production", "label": "发展生产", "households": 1, "measures": 1}
    assert y2019_batches["education"]["households"] == 0


async def test_population_zero_gives_no_incidence(stack, token):
    r = await stack.registry.post("/api/v1/regions", headers=auth(token()),
                                  json={"code": "640122102000", "name": "立岗镇", "rural_population": 0})
    assert r.status_code == 201, r.text
    s = (await stats(stack, token, "640122102000")).json()
    assert s["poverty_incidence"] is None and s["households"] == 0 and s["helper_coverage"]["share"] is None


async def test_outside_the_callers_subtree_is_404(stack, token, county):
    inside = await stats(stack, token, TOWNSHIP, role="township_officer", region=TOWNSHIP)
    assert inside.status_code == 200
    for code, kw in ((OTHER_TOWNSHIP, {"role": "township_officer", "region": TOWNSHIP}),
                     (COUNTY, {"role": "township_officer", "region": TOWNSHIP}),
                     ("640122100999", {}),          # in scope, no such region
                     ("640121000000", {}), ("12345", {})):
        r = await stats(stack, token, code, **kw)
        assert r.status_code == 404, (code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    bank = await stats(stack, token, COUNTY, role="bank")
    assert bank.status_code == 403
    bad_year = await stack.registry.get(f"/api/v1/stats/regions/{COUNTY}?year=1900", headers=auth(token()))
    assert bad_year.status_code == 422


async def test_default_year_is_this_year(stack, token, county):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    r = await stats(stack, token, COUNTY, year=None)
    assert r.status_code == 200 and r.json()["year"] == datetime.now(ZoneInfo("Asia/Shanghai")).year


async def test_a_year_counts_persons_as_they_were_at_the_move(stack, token, county):
    """A exited in 2020 with 2 people; a child born afterwards joins the household: the household has 3 people now,
    the 2020 脱贫人口 stays 2."""
    r = await stack.registry.post(f"/api/v1/households/{county['a']}/members", headers=auth(token()),
                                  json=member("daughter"))
    assert r.status_code == 201, r.text
    s = (await stats(stack, token, COUNTY)).json()
    assert by_code(s["by_status"])["exited"]["persons"] == 3
    assert s["in_year"]["exits"] == {"households": 1, "persons": 2}


async def test_a_helper_counts_only_their_own_households(stack, token, county):
    """C is the helper's only household: identified and registered in 2020, its measure was in 2019."""
    helper = str(county["helper"])
    r = await stats(stack, token, VILLAGE, role="helper", region=VILLAGE, sub=helper)
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["households"], s["persons"], s["poor_households"]) == (1, 1, 1)
    assert s["in_year"]["new"] == {"households": 1, "persons": 1}
    assert s["in_year"]["exits"] == {"households": 0, "persons": 0}
    assert s["in_year"]["identified"] == {"households": 1, "persons": 1}
    assert by_code(s["by_batch"])["production"]["households"] == 0
    y2019 = (await stats(stack, token, VILLAGE, year=2019, role="helper", region=VILLAGE, sub=helper)).json()
    assert by_code(y2019["by_batch"])["production"] == {"code": "production", "label": "发展生产", "households": 1,
                                                        "measures": 1}
