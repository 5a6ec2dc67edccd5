from sqlalchemy import select

from services.gateway.users import service as users
from shared.tables import audit_log
from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE

USERS = "/api/v1/auth/users"
OTHER_COUNTY = "640121000000"


def person(username: str, role: str, region: str, **over) -> dict:
    return {"username": username, "password": "Hongguang-2024", "display_name": "王小明", "phone": "13895112345",
            "role": role, "region_code": region, **over}


async def test_county_admin_creates_a_township_officer_who_can_sign_in(stack):
    admin = await stack.bearer()
    r = await stack.client.post(USERS, headers=admin, json=person("wang.officer", "township_officer", TOWNSHIP))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["username"] == "wang.officer" and body["role"] == "township_officer"
    assert body["region_code"] == TOWNSHIP and body["role_label"] == "乡镇干部"
    assert body["phone"] == "13895112345" and "password" not in str(body).lower()
    assert r.headers["location"] == f"{USERS}/{body['id']}"
    officer = await stack.bearer("wang.officer", "Hongguang-2024")
    me = (await stack.client.get("/api/v1/auth/me", headers=officer)).json()
    assert me["id"] == body["id"] and me["region_code"] == TOWNSHIP


async def test_township_officer_cannot_create_a_county_admin_or_a_user_elsewhere(stack, token):
    officer = auth(token("township_officer", TOWNSHIP, sub="u-officer"))
    up = await stack.client.post(USERS, headers=officer, json=person("boss", "county_admin", TOWNSHIP))
    assert up.status_code == 403
    same = await stack.client.post(USERS, headers=officer, json=person("peer", "township_officer", TOWNSHIP))
    assert same.status_code == 403
    elsewhere = await stack.client.post(USERS, headers=officer, json=person("cadre", "village_cadre", "640122101001"))
    assert elsewhere.status_code == 403
    ok = await stack.client.post(USERS, headers=officer, json=person("cadre", "village_cadre", VILLAGE))
    assert ok.status_code == 201, ok.text


async def test_county_admin_may_create_a_second_county_admin_of_their_county_only(stack):
    admin = await stack.bearer()
    r = await stack.client.post(USERS, headers=admin, json=person("yang.county", "county_admin", COUNTY))
    assert r.status_code == 201, r.text
    r = await stack.client.post(USERS, headers=admin, json=person("li.county", "county_admin", OTHER_COUNTY))
    assert r.status_code == 403
    r = await stack.client.post(USERS, headers=admin, json=person("zhao.town", "county_admin", TOWNSHIP))
    assert r.status_code == 403
    r = await stack.client.post(USERS, headers=admin, json=person("bank.person", "bank", COUNTY))
    assert r.status_code == 403


async def test_duplicate_username_and_weak_passwords_are_refused(stack):
    admin = await stack.bearer()
    assert (await stack.client.post(USERS, headers=admin, json=person("helper1", "helper", VILLAGE))).status_code == 201
    dup = await stack.client.post(USERS, headers=admin, json=person("Helper1", "helper", VILLAGE))
    assert dup.status_code == 409
    short = await stack.client.post(USERS, headers=admin, json=person("helper2", "helper", VILLAGE, password="short1"))
    digits = await stack.client.post(USERS, headers=admin,
                                     json=person("helper3", "helper", VILLAGE, password="1234567890123"))
    assert short.status_code == digits.status_code == 422
    assert short.json()["errors"][0]["loc"] == ["body", "password"]
    bad_region = await stack.client.post(USERS, headers=admin, json=person("helper4", "helper", "6401"))
    assert bad_region.status_code == 422


async def test_user_creation_is_in_the_audit_chain(stack):
    admin = await stack.bearer()
    r = await stack.client.post(USERS, headers=admin, json=person("auditee", "village_cadre", VILLAGE))
    assert r.status_code == 201
    async with stack.app.state.db.sessionmaker() as session:
        from shared import audit
        report = await audit.verify(session)          # seals what is pending first
        rows = (await session.execute(select(audit_log).where(audit_log.c.action == "user.create")
                                      .order_by(audit_log.c.seq))).all()
    last = rows[-1]
    assert last.entity == "user" and last.entity_id == str(r.json()["id"])
    assert last.diff["username"] == "auditee" and last.diff["phone"] == "138****2345"
    assert "password" not in last.diff
    assert report.ok and report.count >= 2          # bootstrap admin + this one


async def test_officers_see_users_of_their_region_only_and_phones_masked_for_auditors(stack, token):
    admin = await stack.bearer()
    ids = {}
    for name, role, region in (("town1", "township_officer", TOWNSHIP), ("town2", "township_officer", OTHER_TOWNSHIP),
                               ("vill1", "village_cadre", VILLAGE)):
        ids[name] = (await stack.client.post(USERS, headers=admin, json=person(name, role, region))).json()["id"]
    officer = await stack.bearer("town1", "Hongguang-2024")
    listed = (await stack.client.get(USERS, headers=officer)).json()
    assert {u["username"] for u in listed["items"]} == {"town1", "vill1"}
    assert (await stack.client.get(f"{USERS}/{ids['town2']}", headers=officer)).status_code == 404
    assert (await stack.client.get(f"{USERS}/999999", headers=officer)).status_code == 404
    assert (await stack.client.get(f"{USERS}/{ids['vill1']}", headers=officer)).json()["phone"] == "13895112345"
    auditor = auth(token("auditor", COUNTY, sub="u-auditor"))
    seen = (await stack.client.get(f"{USERS}/{ids['vill1']}", headers=auditor)).json()
    assert seen["phone"] == "138****2345"
    helper = auth(token("helper", VILLAGE, sub="u-helper"))
    assert (await stack.client.get(USERS, headers=helper)).status_code == 403


async def test_user_list_pages_with_a_cursor(stack):
    admin = await stack.bearer()
    for i in range(5):
        await stack.client.post(USERS, headers=admin, json=person(f"cadre{i}", "village_cadre", VILLAGE))
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "region": VILLAGE, **({"cursor": cursor} if cursor else {})}
        page = (await stack.client.get(USERS, headers=admin, params=params)).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"cadre{i}" for i in range(5)]
    assert (await stack.client.get(USERS, headers=admin, params={"cursor": "garbage!"})).status_code == 400


async def test_deactivating_a_user_ends_their_sessions(stack):
    admin = await stack.bearer()
    created = (await stack.client.post(USERS, headers=admin, json=person("leaver", "helper", VILLAGE))).json()
    leaver = await stack.login("leaver", "Hongguang-2024")
    h = auth(leaver["access_token"])
    assert (await stack.client.get("/api/v1/auth/me", headers=h)).status_code == 200
    stale = await stack.client.patch(f"{USERS}/{created['id']}", headers={**admin, "If-Match": '"7"'},
                                     json={"active": False})
    assert stale.status_code == 412
    r = await stack.client.patch(f"{USERS}/{created['id']}", headers={**admin, "If-Match": '"1"'},
                                 json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["version"] == 2
    assert (await stack.client.get("/api/v1/auth/me", headers=h)).status_code == 401
    r = await stack.client.post("/api/v1/auth/token", data={"grant_type": "password", "username": "leaver",
                                                             "password": "Hongguang-2024"})
    assert r.status_code == 401
    r = await stack.client.post("/api/v1/auth/token", data={"grant_type": "refresh_token",
                                                             "refresh_token": leaver["refresh_token"]})
    assert r.status_code == 401


async def test_users_change_their_own_password_but_not_their_activity(stack):
    admin = await stack.bearer()
    created = (await stack.client.post(USERS, headers=admin, json=person("self.serve", "helper", VILLAGE))).json()
    me = await stack.bearer("self.serve", "Hongguang-2024")
    r = await stack.client.patch(f"{USERS}/{created['id']}", headers=me, json={"password": "Another-pass-99"})
    assert r.status_code == 200
    assert await stack.login("self.serve", "Another-pass-99")
    r = await stack.client.patch(f"{USERS}/{created['id']}", headers=me, json={"active": False})
    assert r.status_code == 403


async def test_bootstrap_admin_and_create_user_for_the_cli(stack):
    async with stack.app.state.db.sessionmaker() as session:
        admin = await users.find_by_username(session, "admin")
        assert admin.role == "county_admin" and admin.region_code == COUNTY and admin.created_by == "system"
        user = await users.create_user(session, username="cli.user", password="Cli-password-1",
                                       display_name="命令行", role="finance_officer", region_code=COUNTY,
                                       created_by="cli")
        await session.commit()
    assert user.id and (await stack.login("cli.user", "Cli-password-1"))
