"""The daily loan.reminder cron: an overdue loan is reminded once per overdue spell, a loan due in 3 days once per
due date, with the head's name and full mobile from the registry; a repeated run writes nothing twice."""

from datetime import datetime, timedelta

from services.funds.loans import state as st
from services.funds.loans.reminders import send_reminders
from shared.testing import auth
from tests.funds.conftest import outbox_events
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)
from tests.funds.test_loans import borrower, event, head_id, post  # noqa: F401  (fixtures)

KEYS = {"loan_no", "kind", "household_id", "region_code", "bank_code", "head_name", "head_phone", "due_on",
        "outstanding", "days_overdue"}


def at(d) -> str:
    return f"{d.isoformat()}T09:00:00+08:00"


async def run(apps) -> int:  # noqa: F811
    app = apps["funds"]._transport.app
    return await send_reminders({"db": app.state.db, "services": app.state.services})


async def test_reminders_once_per_spell_and_due_date(apps, token, borrower, funds_db):  # noqa: F811
    today = datetime.now(st.CHINA).date()
    target = today + timedelta(days=3)
    late, soon = "NX-R1", "NX-R2"
    for e in (event(borrower, "r1", "issued", at(today - timedelta(days=400)), loan_no=late, amount="8000.00",
                    rate="0.0435", term_months=12),
              event(borrower, "r2", "repaid", at(today - timedelta(days=300)), loan_no=late, amount="3000.00"),
              event(borrower, "r3", "overdue", at(today - timedelta(days=30)), loan_no=late),
              event(borrower, "s1", "issued", at(st.add_months(target, -12)), loan_no=soon, amount="2000.00",
                    rate="0.0435", term_months=12)):
        assert (await post(apps, token, e)).status_code == 201
    assert await run(apps) == 2
    assert await run(apps) == 0                       # the same day again: nothing twice
    events = [e["payload"] for e in await outbox_events(funds_db, "loan.reminder")]
    assert all(set(p) == KEYS for p in events) and len(events) == 2
    by = {p["kind"]: p for p in events}
    h = (await apps["registry"].get(f"/api/v1/households/{borrower['household_id']}", headers=auth(token()))).json()
    assert by["overdue"] | {"head_phone": None} == {
        "loan_no": late, "kind": "overdue", "household_id": borrower["household_id"], "region_code": h["village_code"],
        "bank_code": "NXRCU", "head_name": h["head_name"], "head_phone": None,
        "due_on": (today - timedelta(days=30)).isoformat(), "outstanding": "5000.00", "days_overdue": 30}
    assert by["overdue"]["head_phone"] == h["phone"] and "*" not in by["overdue"]["head_phone"]
    assert (by["due_soon"]["loan_no"], by["due_soon"]["due_on"], by["due_soon"]["outstanding"],
            by["due_soon"]["days_overdue"]) == (soon, target.isoformat(), "2000.00", 0)

    await post(apps, token, event(borrower, "r4", "extended", at(today - timedelta(days=20)), loan_no=late,
                                  term_months=24))
    assert await run(apps) == 0                       # extended: no spell now
    await post(apps, token, event(borrower, "r5", "overdue", at(today - timedelta(days=2)), loan_no=late))
    assert await run(apps) == 1                       # a new spell
    [*_, last] = [e["payload"] for e in await outbox_events(funds_db, "loan.reminder")]
    assert (last["loan_no"], last["due_on"], last["days_overdue"]) == (late, (today - timedelta(days=2)).isoformat(), 2)
    assert [e["to"] for e in await outbox_events(funds_db, "loan.reminder")] == [["notifications"]] * 3
