"""Problems a cadre can read: Chinese by default, English when Accept-Language asks for it, each invalid field
named by its Chinese label beside its ``loc``."""

import httpx
import pytest

from shared.i18n import negotiate
from shared.testing import auth
from tests.registry.conftest import OTHER_VILLAGE, household, member, new_id


def _wrong_check(idn: str) -> str:
    return idn[:17] + ("0" if idn[17] != "0" else "1")


@pytest.fixture
async def cadre_app(registry):
    """The same registry app, asked as a cadre's phone asks: no Accept-Language at all."""
    async with httpx.AsyncClient(transport=registry._transport, base_url="http://test") as client:
        yield client


async def test_a_mistyped_id_number_is_explained_in_chinese(cadre_app, token, regions):
    body = household(members=[member("head", id_number=_wrong_check(new_id()))])
    r = await cadre_app.post("/api/v1/households", json=body, headers=auth(token()))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["title"] == "字段填写不正确" and problem["type"].endswith("/validation")
    assert problem["errors"] == [{"loc": ["body", "members", 0, "id_number"], "field_label": "身份证号",
                                  "msg": "身份证号校验位不对，请核对是否输错"}]
    assert problem["detail"] == "有字段填写不正确：身份证号：身份证号校验位不对，请核对是否输错"


async def test_english_when_accept_language_asks_for_it(cadre_app, token, regions):
    body = household(members=[member("head", id_number=_wrong_check(new_id()))])
    for asked in ("en", "en-US;q=0.9", "en-GB,en;q=0.9,zh-CN;q=0.5"):
        r = await cadre_app.post("/api/v1/households", json=body, headers={**auth(token()), "Accept-Language": asked})
        problem = r.json()
        assert (problem["title"], problem["detail"]) == ("Invalid field", "One or more fields are invalid"), asked
        assert problem["errors"] == [{"loc": ["body", "members", 0, "id_number"], "field_label": "身份证号",
                                      "msg": "Value error, ID number check character is wrong"}]
    zh = await cadre_app.post("/api/v1/households", json=body,
                              headers={**auth(token()), "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert zh.json()["title"] == "字段填写不正确"


async def test_pydantic_messages_are_translated_by_type_and_fields_labelled(cadre_app, token, regions):
    head = member("head") | {"relation": "grandma", "health": None}
    body = household(members=[head], identified_year="二〇一六") | {"unknown_field": 1}
    body.pop("address")
    r = await cadre_app.post("/api/v1/households", json=body, headers=auth(token()))
    assert r.status_code == 422
    by_loc = {tuple(e["loc"]): e for e in r.json()["errors"]}
    relation = by_loc[("body", "members", 0, "relation")]
    assert relation["field_label"] == "与户主关系" and relation["msg"].startswith("只能是 'head'")
    assert by_loc[("body", "address")] == {"loc": ["body", "address"], "field_label": "地址", "msg": "必填"}
    assert by_loc[("body", "identified_year")]["msg"] == "应为整数"
    assert by_loc[("body", "members", 0, "health")]["field_label"] == "健康状况"
    assert all("\u4e00" <= e["msg"][0] <= "\u9fff" for e in by_loc.values()), by_loc


async def test_a_domain_conflict_in_chinese_and_in_english(cadre_app, token, create):
    first = await create()
    spouse = first["members"][1]["id_number"]
    again = household(OTHER_VILLAGE, members=[member("head"), member("spouse", id_number=spouse)])
    zh = await cadre_app.post("/api/v1/households", json=again, headers=auth(token()))
    assert zh.status_code == 409
    problem = zh.json()
    masked = spouse[:6] + "********" + spouse[-4:]
    assert problem["title"] == "此人已登记在册"
    assert problem["detail"] == f"身份证号 {masked} 已在户 {first['household_no']} 登记，一人只能在一户"
    assert problem["household_no"] == first["household_no"] and problem["type"].endswith("/already-registered")
    en = await cadre_app.post("/api/v1/households", json=again, headers={**auth(token()), "Accept-Language": "en"})
    assert en.status_code == 409 and en.json()["title"] == "Person already registered"
    assert en.json()["detail"] == f"{masked} is already registered in household {first['household_no']}"
    assert {k: v for k, v in en.json().items() if k not in ("title", "detail")} == \
        {k: v for k, v in problem.items() if k not in ("title", "detail")}


async def test_an_illegal_status_change_in_chinese(cadre_app, token, create):
    h = await create()
    r = await cadre_app.post(f"/api/v1/households/{h['id']}/transitions", json={"action": "mark_returned"},
                             headers=auth(token()))
    assert r.status_code == 409 and r.json()["type"].endswith("/illegal-transition")
    assert r.json()["title"] == "当前状态不能进行此变更" and r.json()["detail"] == "「识别中」的户不能返贫"


async def test_the_fast_read_path_answers_in_the_language_asked(cadre_app, token, regions):
    """GET /api/v1/households/{id} skips the framework (a pure-ASGI path): its problems are rendered alike."""
    zh = await cadre_app.get("/api/v1/households/999999", headers=auth(token()))
    assert zh.status_code == 404 and (zh.json()["title"], zh.json()["detail"]) == ("没有找到", "没有这户（或不在您的辖区内）")
    en = await cadre_app.get("/api/v1/households/999999", headers={**auth(token()), "Accept-Language": "en"})
    assert (en.json()["title"], en.json()["detail"]) == ("Not found", "No such household")


@pytest.mark.parametrize("header, language", [
    (None, "zh"), ("", "zh"), ("*", "zh"), ("fr-FR", "zh"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en", "en"),
    ("en-US;q=0.9", "en"), ("fr, en;q=0.5", "en"), ("en;q=0.5, zh;q=0.6", "zh"), ("zh;q=0, en", "en"),
    ("en;q=abc", "zh"), ("x" * 300, "zh"),
])
def test_accept_language(header, language):
    assert negotiate(header) == language
