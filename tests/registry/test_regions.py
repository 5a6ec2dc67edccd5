from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE


async def test_county_admin_builds_the_region_tree(registry, token):
    h = auth(token())
    r = await registry.post("/api/v1/regions", json={"code": COUNTY, "name": "贺兰县", "rural_population": 120000},
                            headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["level"] == "county" and r.headers["etag"] == '"1"'
    r = await registry.post("/api/v1/regions", json={"code": TOWNSHIP, "name": "洪广镇"}, headers=h)
    assert r.status_code == 201
    r = await registry.post("/api/v1/regions", json={"code": VILLAGE, "name": "欣荣村", "rural_population": 900},
                            headers=h)
    assert r.status_code == 201
    kids = (await registry.get(f"/api/v1/regions/{TOWNSHIP}/children", headers=h)).json()
    assert [k["name"] for k in kids] == ["欣荣村"]
    again = await registry.post("/api/v1/regions", json={"code": TOWNSHIP, "name": "洪广镇"}, headers=h)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_village_needs_its_township(registry, token):
    r = await registry.post("/api/v1/regions", json={"code": "640122105001", "name": "无乡村"}, headers=auth(token()))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "code"]


async def test_township_officer_cannot_see_another_township(registry, token):
    admin = auth(token())
    for code, name in ((COUNTY, "贺兰县"), (TOWNSHIP, "洪广镇"), (OTHER_TOWNSHIP, "金贵镇")):
        assert (await registry.post("/api/v1/regions", json={"code": code, "name": name}, headers=admin)).status_code == 201
    officer = auth(token("township_officer", TOWNSHIP, sub="u-officer"))
    assert (await registry.get(f"/api/v1/regions/{TOWNSHIP}", headers=officer)).status_code == 200
    peek = await registry.get(f"/api/v1/regions/{OTHER_TOWNSHIP}", headers=officer)
    missing = await registry.get("/api/v1/regions/640122199000", headers=officer)
    assert peek.status_code == missing.status_code == 404
    assert peek.json()["detail"] == missing.json()["detail"]
    # and creating regions is the county's job
    r = await registry.post("/api/v1/regions", json={"code": "640122100002", "name": "广荣村"}, headers=officer)
    assert r.status_code == 403
