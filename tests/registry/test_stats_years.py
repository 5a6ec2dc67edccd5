"""The year series (``/stats/regions/{code}/years``): one request gives what one statistics call per year gives."""

from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP
from tests.registry.test_stats import county, stats  # noqa: F401  (the fixture: a county with a history)

KINDS = ("new", "exits", "returns", "removals", "identified")


async def series(stack, token, code: str, query: str = "?from=2014&to=2021", **kw):
    return await stack.registry.get(f"/api/v1/stats/regions/{code}/years{query}", headers=auth(token(**kw)))


async def test_each_year_equals_that_years_statistics(stack, token, county):  # noqa: F811
    for code in (COUNTY, TOWNSHIP, OTHER_TOWNSHIP):
        r = await series(stack, token, code)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [y["year"] for y in body["years"]] == list(range(2014, 2022))
        for y in body["years"]:
            in_year = (await stats(stack, token, code, y["year"])).json()["in_year"]
            assert {k: y[k] for k in KINDS} == {k: in_year[k] for k in KINDS}, (code, y["year"])


async def test_the_figures_of_the_seeded_history(stack, token, county):  # noqa: F811
    years = {y["year"]: y for y in (await series(stack, token, COUNTY)).json()["years"]}
    assert years[2016]["new"] == {"households": 2, "persons": 5}
    assert years[2018]["new"] == {"households": 1, "persons": 2}
    assert years[2019]["exits"] == {"households": 1, "persons": 3}
    assert years[2020]["exits"] == {"households": 1, "persons": 2}
    assert years[2020]["returns"] == {"households": 1, "persons": 3}
    assert years[2020]["removals"] == {"households": 1, "persons": 2}
    assert years[2020]["identified"] == {"households": 2, "persons": 5}
    assert years[2014]["new"] == {"households": 0, "persons": 0}


async def test_scope_and_bad_ranges(stack, token, county):  # noqa: F811
    officer = {"role": "township_officer", "region": TOWNSHIP, "sub": "u-town"}
    assert (await series(stack, token, OTHER_TOWNSHIP, **officer)).status_code == 404
    assert (await series(stack, token, COUNTY, **officer)).status_code == 404
    mine = (await series(stack, token, TOWNSHIP, **officer)).json()
    assert {y["year"]: y["removals"]["households"] for y in mine["years"]}[2020] == 0   # 银河村's removal is not his
    r = await series(stack, token, COUNTY, "?from=2020&to=2016")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "from"]
    assert (await series(stack, token, COUNTY, "?from=1990")).status_code == 422
    assert (await series(stack, token, "640122999000")).status_code == 404
    body = (await series(stack, token, COUNTY, "?from=2019")).json()
    assert body["from"] == 2019 and body["to"] >= 2026 and body["years"][0]["year"] == 2019
