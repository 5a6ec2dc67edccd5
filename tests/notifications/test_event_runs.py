"""A run of events in one transaction (``shared.worker.dispatch_many``): its SMS are written together, once per
fact, and a reversal in the same run as its payment finds the payment's number."""

from services.notifications.handlers import HANDLERS
from shared import audit
from shared.worker import dispatch_many
from tests.notifications.conftest import envelope, make_ctx, paid, rows
from tests.notifications.test_payment_reversed import reversed_


async def test_a_run_queues_its_sms_once_per_fact_with_one_audit_row_each(settings, ndb):
    run = [envelope("payment.paid", paid(household_id=n, head_phone=f"1395123{n:04d}")) for n in range(1, 6)]
    run += [envelope("payment.paid", paid(household_id=3, head_phone="13951230003")),   # the same line again
            envelope("payment.paid", paid(household_id=9, head_phone=None)),
            envelope("payment.reversed", reversed_(household_id=2))]
    assert await dispatch_many(make_ctx(settings, ndb), run, HANDLERS) == 8
    messages = await rows(ndb, "SELECT dedupe_key, status, phone_masked FROM sms_message ORDER BY dedupe_key")
    assert [(m.dedupe_key, m.status) for m in messages] == [
        *[(f"payment.paid:11:{n}", "queued") for n in range(1, 6)], ("payment.paid:11:9", "failed"),
        ("payment.reversed:11:2", "queued")]
    assert messages[-1].phone_masked == "139****0002"
    await audit.sweep(ndb.engine)
    actions = await rows(ndb, "SELECT action, diff FROM audit_log WHERE entity = 'sms_message'")
    assert [a.action for a in actions] == ["sms.queue"] * 7
    assert sorted(a.diff["dedupe_key"] for a in actions) == [m.dedupe_key for m in messages]
    counters = {r.name: r.value for r in await rows(
        ndb, "SELECT name, sum(value) AS value FROM sms_counter GROUP BY name")}
    assert counters == {"queued": 6, "failed": 1}
    # the same run again (redelivered): nothing more
    assert await dispatch_many(make_ctx(settings, ndb), run, HANDLERS) == 0
    assert len(await rows(ndb, "SELECT id FROM sms_message")) == 7


async def test_a_run_that_fails_together_keeps_nothing_of_its_first_try(settings, ndb):
    tries = []

    async def flaky(session, event, ctx):     # fails the run once; alone, it goes through
        tries.append(event["event_id"])
        if len(tries) == 1:
            raise RuntimeError("the database blinked")

    handlers = HANDLERS | {"flaky": flaky}
    run = [envelope("payment.paid", paid(household_id=n)) for n in range(1, 4)]
    run.insert(2, envelope("flaky", {}))
    assert await dispatch_many(make_ctx(settings, ndb), run, handlers) == 4
    assert len(tries) == 2
    assert len(await rows(ndb, "SELECT id FROM sms_message")) == 3
    await audit.sweep(ndb.engine)
    assert len(await rows(ndb, "SELECT seq FROM audit_log WHERE action = 'sms.queue'")) == 3
    (queued,) = await rows(ndb, "SELECT sum(value) AS n FROM sms_counter WHERE name = 'queued'")
    assert queued.n == 3
