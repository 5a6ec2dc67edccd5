"""防返贫监测 events: the helper's inbox on approval and on elimination, the head's plain SMS on approval, once."""

from services.notifications.handlers import HANDLERS
from tests.conftest import VILLAGE
from tests.notifications.conftest import envelope, handle, make_ctx, rows

CASE = {"case_id": 41, "case_no": "JC20240000041", "household_id": 12, "household_no": "6401221000010012",
        "head_name": "马文军", "village_name": "欣荣村", "region_code": VILLAGE, "helper_user_id": "17"}


async def inbox(ndb):
    return await rows(ndb, "SELECT user_id, kind, title, body FROM inbox_message ORDER BY id")


async def sms(ndb):
    return await rows(ndb, "SELECT kind, text, phone_masked, status, dedupe_key FROM sms_message ORDER BY created_at")


async def test_approval_tells_the_helper_and_texts_the_head_in_plain_words_once(settings, ndb):
    event = envelope("monitoring.case_approved", {**CASE, "head_phone": "13951234567"}, source="registry")
    assert await handle(make_ctx(settings, ndb), event)
    (m,) = await inbox(ndb)
    assert m.user_id == "17" and m.kind == "monitoring.case_approved" and m.title == "帮扶户纳入防返贫监测"
    assert "欣荣村马文军户" in m.body and "JC20240000041" in m.body
    (s,) = await sms(ndb)
    assert s.text == "【精准扶贫】您家已纳入防返贫监测帮扶，帮扶责任人会与您联系。"
    assert s.phone_masked == "139****4567" and s.status == "queued"
    assert "因病" not in s.text and "风险" not in s.text and "监测编号" not in s.text
    assert not await handle(make_ctx(settings, ndb), event)                 # re-delivered: nothing more
    again = envelope("monitoring.case_approved", {**CASE, "head_phone": "13951234567"}, source="registry")
    assert await handle(make_ctx(settings, ndb), again)                      # the same fact under a new id
    assert len(await inbox(ndb)) == 1 and len(await sms(ndb)) == 1


async def test_elimination_tells_the_helper_only(settings, ndb):
    event = envelope("monitoring.case_eliminated", CASE, source="registry")
    assert await handle(make_ctx(settings, ndb), event)
    (m,) = await inbox(ndb)
    assert m.kind == "monitoring.case_eliminated" and m.title == "帮扶户风险已消除" and "风险已消除" in m.body
    assert await sms(ndb) == []
    assert not await handle(make_ctx(settings, ndb), event)
    assert len(await inbox(ndb)) == 1


async def test_no_helper_no_inbox_and_no_phone_a_failed_sms(settings, ndb):
    event = envelope("monitoring.case_approved", {**CASE, "helper_user_id": None, "head_phone": None},
                     source="registry")
    assert await handle(make_ctx(settings, ndb), event)
    assert await inbox(ndb) == []
    (s,) = await sms(ndb)
    assert s.status == "failed"


def test_the_topics_are_handled():
    assert {"monitoring.case_approved", "monitoring.case_eliminated"} <= set(HANDLERS)
