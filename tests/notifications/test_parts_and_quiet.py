"""What the provider bills (parts of a long SMS) and when nothing is sent (quiet hours, Beijing time)."""

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import select

from services.notifications import templates
from services.notifications.sms import service
from services.notifications.sms.delivery import deliver_due
from services.notifications.sms.models import SmsMessage
from services.notifications.sms.quiet import BEIJING, QuietHours
from shared.settings import Settings
from shared.testing import auth, make_token
from tests.conftest import COUNTY
from tests.notifications.conftest import FAST, envelope, handle, make_ctx, paid, resolved, rows

EMOJI = "\U0001F600"          # beyond the BMP: two UCS-2 units
RARE = "\U00020BB7"           # 𠮷, CJK Extension B: two units as well


@pytest.mark.parametrize(("text", "parts"), [
    ("字" * 70, 1), ("字" * 71, 2), ("字" * 134, 2), ("字" * 135, 3), ("a" * 70, 1), ("a" * 71, 2),
    ("字" * 68 + EMOJI, 1), ("字" * 69 + EMOJI, 2),          # 70 and 71 units
    ("字" * 132 + RARE, 2), ("字" * 133 + RARE, 3),          # 134 and 135 units
    ("字" * 66 + EMOJI + "字" * 10, 2),                       # a pair that would straddle part one starts part two
    ("字" * 66 + EMOJI + "字" * 66, 3),                       # ... which then overflows: 1 + 68 units + 1
])
def test_parts_are_counted_as_the_provider_counts_them(text, parts):
    assert templates.sms_parts(text) == parts


def reply_for(total_units: int) -> str:
    """An officer's reply that makes the objection SMS exactly ``total_units`` long."""
    base = templates.objection_resolved(notice_title="欣荣村2020年贫困户识别公示", decision="upheld", reply="")
    return "字" * (total_units - len(base) - len("答复："))


async def test_the_listing_shows_how_many_parts_each_sms_is_billed_as(settings, ndb, notifications, token):
    ctx = make_ctx(settings, ndb)
    for n, units in enumerate((70, 71, 134, 135), start=1):
        assert await handle(ctx, envelope("objection.resolved", resolved(objection_id=n, decision="upheld",
                                                                         reply=reply_for(units))))
    got = {m.dedupe_key: (len(m.text), m.parts) for m in await rows(ndb, "SELECT dedupe_key, text, parts "
                                                                         "FROM sms_message")}
    assert got == {"objection.resolved:1": (70, 1), "objection.resolved:2": (71, 2),
                   "objection.resolved:3": (134, 2), "objection.resolved:4": (135, 3)}
    r = await notifications.get("/api/v1/notifications", headers=auth(token("county_admin", COUNTY)))
    assert r.status_code == 200
    assert sorted((len(i["text"]), i["parts"]) for i in r.json()["items"]) == [(70, 1), (71, 2), (134, 2), (135, 3)]


# --- quiet hours ---------------------------------------------------------------------------------

def beijing(day: int, hh: int, mm: int, ss: float = 0) -> datetime:
    return datetime(2026, 6, day, hh, mm, tzinfo=BEIJING).astimezone(UTC) + timedelta(seconds=ss)


@pytest.mark.parametrize(("at", "release"), [
    (beijing(1, 21, 59), None), (beijing(1, 22, 0), beijing(2, 8, 0)), (beijing(1, 23, 59, 59), beijing(2, 8, 0)),
    (beijing(2, 0, 0), beijing(2, 8, 0)), (beijing(2, 7, 59), beijing(2, 8, 0)),
    (beijing(2, 7, 59, 59.9), beijing(2, 8, 0)), (beijing(2, 8, 0), None), (beijing(2, 12, 0), None),
])
def test_quiet_hours_run_from_22_00_up_to_but_not_including_08_00(at, release):
    assert QuietHours.parse("22:00-08:00").release_at(at) == release


def test_a_window_within_one_day_no_window_and_the_urgent_kinds():
    lunch = QuietHours.parse("12:00-14:00")
    assert lunch.release_at(beijing(1, 11, 59)) is None and lunch.release_at(beijing(1, 13, 0)) == beijing(1, 14, 0)
    assert lunch.release_at(beijing(1, 23, 0)) is None
    assert QuietHours.parse("").release_at(beijing(1, 23, 0)) is None
    night = QuietHours.parse("22:00-08:00", urgent=frozenset({"hardship.alert"}))
    assert night.send_at(beijing(1, 23, 0), "hardship.alert") == beijing(1, 23, 0)
    assert night.send_at(beijing(1, 23, 0), "payment.paid") == beijing(2, 8, 0)


def test_the_setting_is_checked_at_startup():
    assert Settings(quiet_hours=" 22:00-08:00 ").quiet_hours == "22:00-08:00"
    for bad in ("22-08", "24:00-08:00", "22:00-22:00", "22:00~08:00"):
        with pytest.raises(ValueError, match="QUIET_HOURS"):
            Settings(quiet_hours=bad)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def test_an_sms_due_in_quiet_hours_waits_until_they_end(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url, "quiet_hours": "22:00-08:00"})
    clock = Clock(beijing(1, 21, 59))
    ctx = make_ctx(settings, ndb) | {"clock": clock}

    async def deliver():
        return await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST,
                                 clock=clock)

    assert await handle(ctx, envelope("payment.paid", paid(household_id=1)))      # 21:59: goes at once
    assert (await deliver()).sent == 1
    clock.at = beijing(1, 22, 0)
    assert await handle(ctx, envelope("payment.paid", paid(household_id=2)))      # 22:00: waits
    (late,) = await rows(ndb, "SELECT * FROM sms_message WHERE dedupe_key = 'payment.paid:11:2'")
    assert late.status == "queued" and late.next_attempt_at == beijing(2, 8, 0)
    assert (await deliver()).sent == 0
    clock.at = beijing(2, 7, 59)
    assert await handle(ctx, envelope("payment.paid", paid(household_id=3)))      # 07:59: waits too
    assert (await deliver()).sent == 0 and len(provider.posts) == 1
    clock.at = beijing(2, 8, 0)
    assert await handle(ctx, envelope("payment.paid", paid(household_id=4)))      # 08:00: goes
    assert (await deliver()).sent == 3
    assert sorted(p.json["id"] for p in provider.posts[1:]) == sorted(
        str(r.id) for r in await rows(ndb, "SELECT id FROM sms_message WHERE dedupe_key <> 'payment.paid:11:1'"))


async def test_a_message_already_due_is_held_back_at_night_and_so_is_a_retry(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url, "quiet_hours": "22:00-08:00"})
    clock = Clock(beijing(1, 21, 0))
    ctx = make_ctx(settings, ndb) | {"clock": clock}
    assert await handle(ctx, envelope("payment.paid", paid(household_id=1)))     # due since 21:00
    clock.at = beijing(1, 22, 0)
    report = await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST,
                               clock=clock)
    assert report.attempts == 0 and provider.posts == []                         # not sent at night
    # a failed attempt just before 22:00 whose retry would fall after it: the retry waits for the morning
    provider.fail_first = 1
    clock.at = beijing(1, 21, 59, 59.99)
    report = await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST,
                               clock=clock)
    assert report.retried == 1 and len(provider.posts) == 1
    (m,) = await rows(ndb, "SELECT * FROM sms_message")
    assert m.status == "queued" and m.next_attempt_at == beijing(2, 8, 0)


async def test_a_held_back_sms_says_when_it_will_go(settings, ndb):
    settings = settings.model_copy(update={"quiet_hours": "22:00-08:00"})
    tonight = datetime.combine(datetime.now(BEIJING).date(), time(23, 0), BEIJING) + timedelta(days=1)
    ctx = make_ctx(settings, ndb) | {"clock": Clock(tonight)}
    assert await handle(ctx, envelope("payment.paid", paid()))
    async with ndb.sessionmaker() as s:
        (m,) = (await s.exec(select(SmsMessage))).all()
        read = service.to_read(m, provider_configured=True)
    morning = (tonight + timedelta(days=1)).strftime("%Y-%m-%d")
    assert read.status == "queued" and read.next_attempt_at == datetime.combine(
        (tonight + timedelta(days=1)).date(), time(8, 0), BEIJING)
    assert read.detail == f"静默时段不发短信，将于北京时间 {morning} 08:00 发送"
