"""``payment.reversed``: a bank reversal of a paid line tells the household head, at the number its payment SMS
went to, that the money did not arrive and will be paid again."""

from typing import Any

from shared import pii
from tests.notifications.conftest import envelope, handle, make_ctx, paid, rows

TEXT = ("【精准扶贫】您户的产业发展补贴 3000.00 元被银行退回，未能到账。"
        "乡镇核实后将重新发放，如有疑问请联系乡镇人民政府。")


def reversed_(**overrides: Any) -> dict[str, Any]:
    """As ``services.funds.reconciliation.service`` emits it."""
    return {"disbursement_id": 11, "line_id": 5, "end_to_end_id": "JZ11-5", "household_id": 42,
            "household_no": "6401221000010042", "amount": "3000.00", "purpose": "industry",
            "purpose_label": "产业发展", "allocation_id": 3, "entry_id": 9, "bank_code": "NXRCB",
            "statement_id": "ST-20200605", "bank_ref": "NX20200601-0042", "booked_on": "2020-06-05",
            "region_code": "640122100001"} | overrides


async def sms(ndb, kind: str):
    return await rows(ndb, "SELECT * FROM sms_message WHERE kind = :kind ORDER BY created_at, id", kind=kind)


async def test_a_reversal_tells_the_head_at_the_number_the_payment_sms_went_to(settings, ndb):
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("payment.paid", paid(head_phone="+86 139-5123-4567")))
    assert await handle(ctx, envelope("payment.reversed", reversed_()))
    (m,) = await sms(ndb, "payment.reversed")
    assert m.text == TEXT and m.parts == 1 and m.status == "queued" and m.attempts == 0
    assert m.dedupe_key == "payment.reversed:11:42" and m.region_code == "640122100001"
    assert m.phone_masked == "139****4567"
    assert pii.cipher(settings).decrypt(m.phone_enc, field="phone") == "13951234567"
    # the same reversal again (another event id): still one SMS
    assert await handle(ctx, envelope("payment.reversed", reversed_()))
    assert len(await sms(ndb, "payment.reversed")) == 1
    actions = await rows(ndb, "SELECT action FROM audit_pending UNION ALL SELECT action FROM audit_log")
    assert sorted(a.action for a in actions) == ["sms.queue", "sms.queue"]


async def test_a_reversal_without_a_payment_sms_on_record_is_stored_as_not_sent(settings, ndb):
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("payment.paid", paid(household_id=7, head_phone=None)))
    assert await handle(ctx, envelope("payment.reversed", reversed_(household_id=7)))
    assert await handle(ctx, envelope("payment.reversed", reversed_(household_id=8, purpose="education",
                                                                    purpose_label=None, amount="1200.5")))
    no_phone, never_told = await sms(ndb, "payment.reversed")
    assert no_phone.status == "failed" and "未登记手机号" in no_phone.last_error and no_phone.phone_enc is None
    assert never_told.status == "failed" and never_told.dedupe_key == "payment.reversed:11:8"
    assert never_told.text.startswith("【精准扶贫】您户的教育扶贫补贴 1200.50 元被银行退回")


async def test_a_reversal_that_does_not_fit_is_dropped(settings, ndb):
    assert await handle(make_ctx(settings, ndb), envelope("payment.reversed", reversed_(amount="-1")))
    assert await sms(ndb, "payment.reversed") == []
