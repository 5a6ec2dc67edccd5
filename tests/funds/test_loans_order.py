"""A loan's state never depends on the order its events arrived in (ties, late events, duplicates): the pure
replay for any permutation (hypothesis), the impossibility rules only getting more certain as events arrive, and
the API for a few arrival orders of one history."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from services.funds.loans import state as st
from shared.testing import auth
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)
from tests.funds.test_loans import borrower, head_id, post  # noqa: F401  (fixtures)

BASE = datetime(2020, 3, 1, 9, 0, tzinfo=st.CHINA)


@dataclass(frozen=True)
class Ev:
    event_id: str
    kind: str
    occurred_at: datetime
    amount: int | None = None
    rate: Decimal | None = None
    term_months: int | None = None
    credit_line: int | None = None
    rating: str | None = None


@hs.composite
def history(draw) -> list[Ev]:
    """A possible history, often with several events at the same moment (in the business order)."""
    events: list[Ev] = []

    def add(kind: str, **kw) -> None:
        at = events[-1].occurred_at if events else BASE
        step = draw(hs.sampled_from([0, 0, 1, 30]))
        if events and step == 0 and st.PRECEDENCE[kind] < st.PRECEDENCE[events[-1].kind]:
            step = 1
        events.append(Ev(f"e{len(events):02d}", kind, at + timedelta(days=step), **kw))

    if draw(hs.booleans()):
        add("rated", credit_line=5_000_000, rating="AA")
    principal = draw(hs.integers(10_000, 5_000_000))
    add("issued", amount=principal, rate=Decimal("0.0435"), term_months=12)
    outstanding = principal
    for kind in draw(hs.lists(hs.sampled_from(["repaid", "overdue", "extended", "rated"]), max_size=6)):
        if kind == "repaid":
            if outstanding > 1:
                amount = draw(hs.integers(1, outstanding - 1))
                outstanding -= amount
                add("repaid", amount=amount)
        elif kind == "extended":
            add("extended", term_months=draw(hs.integers(13, 48)))
        elif kind == "rated":
            add("rated", credit_line=draw(hs.integers(0, 5_000_000)), rating="A")
        else:
            add("overdue")
    end = draw(hs.sampled_from([None, "settled", "defaulted", "repaid", "repaid+settled"]))
    if end in ("repaid", "repaid+settled"):
        add("repaid", amount=outstanding)
    if end in ("settled", "defaulted", "repaid+settled"):
        add(end.removeprefix("repaid+"))
    return events


def arrivals(events: list[Ev], rnd: random.Random) -> list[Ev]:
    """A shuffled arrival order with some events posted twice."""
    out = events + [e for e in events if rnd.random() < 0.3]
    rnd.shuffle(out)
    return out


@settings(max_examples=300, deadline=None)
@given(history(), hs.randoms(use_true_random=False))
def test_any_arrival_order_with_duplicates_gives_the_same_loan(events, rnd):
    expected = st.replay(events)
    for _ in range(3):
        assert st.replay(arrivals(events, rnd)) == expected


@settings(max_examples=300, deadline=None)
@given(history(), hs.randoms(use_true_random=False))
def test_a_possible_history_is_accepted_whatever_order_it_arrives_in(events, rnd):
    assert st.impossible(events) == {}
    stored: list[Ev] = []
    for e in arrivals(events, rnd):       # what post_event does: refuse what the stored events make impossible
        if e.event_id not in {x.event_id for x in stored} and e.event_id not in st.impossible([*stored, e]):
            stored.append(e)
    assert {e.event_id for e in stored} == {e.event_id for e in events}
    assert st.replay(stored) == st.replay(events)


@settings(max_examples=300, deadline=None)
@given(history(), hs.randoms(use_true_random=False), hs.sampled_from(["issued", "repaid", "overdue", "settled"]),
       hs.integers(-40, 400), hs.integers(1, 6_000_000))
def test_what_a_subset_breaks_every_superset_breaks(events, rnd, kind, day, amount):
    odd = Ev("zz", kind, BASE + timedelta(days=day), amount=amount, rate=Decimal("0.04"), term_months=12)
    full = [*events, odd]
    subset = [e for e in full if rnd.random() < 0.6]
    if st.impossible(subset):
        assert st.impossible(full)


def test_ties_follow_the_business_order_not_the_arrival():
    at = BASE + timedelta(days=400)
    issued = Ev("a", "issued", BASE, amount=1_000_000, rate=Decimal("0.0435"), term_months=12)
    overdue, extended = Ev("b", "overdue", at), Ev("c", "extended", at, term_months=24)
    assert st.replay([issued, overdue, extended]).status == "extended"
    assert st.replay([issued, extended, overdue]).status == "extended"
    assert st.replay([issued, extended, overdue]).term_months == 24
    part = Ev("d", "repaid", BASE + timedelta(days=10), amount=400_000)
    s = st.replay([part, issued])
    assert (s.status, s.outstanding) == ("repaying", 600_000)
    late = st.replay([issued, part, Ev("e", "overdue", BASE + timedelta(days=5))])
    assert (late.status, late.overdue_since) == ("overdue", (BASE + timedelta(days=5)).date())


def test_impossible_events_say_why():
    issued = Ev("a", "issued", BASE, amount=1_000_000, rate=Decimal("0.0435"), term_months=12)
    settled = Ev("s", "settled", BASE + timedelta(days=100))
    assert "already issued" in st.impossible([issued, Ev("b", "issued", BASE, amount=1, rate=Decimal(0),
                                                         term_months=1)])["b"]
    assert "before the loan was issued" in st.impossible([issued, Ev("c", "overdue", BASE - timedelta(days=1))])["c"]
    assert "settled" in st.impossible([issued, settled, Ev("d", "repaid", BASE + timedelta(days=101),
                                                           amount=1)])["d"]
    assert "outstanding" in st.impossible([issued, Ev("e", "repaid", BASE, amount=1_000_001)])["e"]
    full = Ev("f", "repaid", BASE + timedelta(days=3), amount=1_000_000)
    assert st.impossible([issued, full, Ev("g", "settled", BASE + timedelta(days=4))]) == {}
    assert "repaid in full" in st.impossible([issued, full, Ev("h", "defaulted", BASE + timedelta(days=4))])["h"]


def body_of(e: Ev, id_number: str, loan_no: str) -> dict:
    b = {"event_id": f"{loan_no}-{e.event_id}", "loan_no": loan_no, "id_number": id_number, "kind": e.kind,
         "occurred_at": e.occurred_at.isoformat()}
    for name in ("amount", "credit_line"):
        if getattr(e, name) is not None:
            b[name] = f"{Decimal(getattr(e, name)) / 100:.2f}"
    if e.rate is not None:
        b["rate"] = str(e.rate)
    if e.term_months is not None:
        b["term_months"] = e.term_months
    if e.rating is not None:
        b["rating"] = e.rating
    return b


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_through_the_api_every_arrival_order_gives_the_same_loan(apps, token, borrower, seed):  # noqa: F811
    rnd = random.Random(seed)
    events = _fixed_history()
    finals = []
    for n in range(3):
        loan_no = f"NX-P{seed}-{n}"
        for e in arrivals(events, rnd):
            r = await post(apps, token, body_of(e, borrower["id_number"], loan_no), key=f"{loan_no}-{rnd.random()}")
            assert r.status_code in (200, 201), r.text
        got = (await apps["funds"].get(f"/api/v1/loans/{loan_no}", headers=auth(token()))).json()
        finals.append({k: got[k] for k in ("status", "principal", "outstanding", "credit_line", "rating", "rate",
                                           "term_months", "issued_on", "days_overdue")}
                      | {"events": [x["event_id"].split("-")[-1] for x in got["events"]]})
    assert finals[0] == finals[1] == finals[2]
    assert finals[0]["status"] == "extended" and finals[0]["outstanding"] == "6000.00"
    assert finals[0]["events"] == [e.event_id for e in st.ordered(events)]


def _fixed_history() -> list[Ev]:
    """Issued, repaid twice at one moment, overdue and extended at one moment (the tie of defect 3)."""
    t = BASE + timedelta(days=365)
    return [Ev("e0", "rated", BASE, credit_line=1_000_000, rating="AA"),
            Ev("e1", "issued", BASE, amount=1_000_000, rate=Decimal("0.0435"), term_months=12),
            Ev("e2", "repaid", BASE + timedelta(days=90), amount=200_000),
            Ev("e3", "repaid", BASE + timedelta(days=90), amount=200_000),
            Ev("e4", "overdue", t), Ev("e5", "extended", t, term_months=24)]


def test_every_reason_an_event_is_impossible_reads_in_chinese():
    """A bank's developer reading Chinese problems gets the reason in Chinese too, not half in English."""
    from services.funds.glossary import MESSAGES_ZH, PATTERNS_ZH
    from shared.i18n import Vocabulary, message_zh
    day = timedelta(days=1)
    issued = Ev("i1", "issued", BASE, amount=100_000, rate=Decimal("0.0435"), term_months=12)
    histories = [
        [issued, Ev("i2", "issued", BASE + day, amount=5)],                                 # issued twice
        [issued, Ev("r1", "repaid", BASE + day, amount=200_000)],                           # repays too much
        [issued, Ev("r1", "repaid", BASE + day, amount=100_000), Ev("x", "overdue", BASE + 2 * day)],  # repaid
        [issued, Ev("s", "defaulted", BASE + day), Ev("x", "repaid", BASE + 2 * day, amount=1)],  # ended
        [issued, Ev("early", "repaid", BASE - day, amount=1)],                              # before the issue
    ]
    vocabulary = Vocabulary(messages=MESSAGES_ZH, patterns=PATTERNS_ZH)
    reasons = [next(iter(st.impossible(h).items())) for h in histories]
    assert [why.split(" (")[0].split(" on ")[0] for _, why in reasons] == [
        "the loan was already issued", "repays 2000.00 but only 1000.00 was outstanding then",
        "the loan was repaid in full", "the loan was defaulted", "it is before the loan was issued"]
    for event_id, why in reasons:
        zh = message_zh(f"repaid event {event_id} cannot be: {why}", vocabulary)
        assert zh is not None and zh.startswith(f"还款事件 {event_id} 不能接受："), zh
        assert not any(w.isascii() and w.isalpha() for w in zh.replace(event_id, "").split()), zh
