"""The column form of the ID rule (``idnumber.exact_column``, what the import's column lane applies to a whole
column) says yes exactly where ``idnumber.normalize`` returns the text unchanged."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from shared import idnumber


def exact(s: str) -> bool:
    try:
        return idnumber.normalize(s) == s
    except ValueError:
        return False


def good_ids() -> st.SearchStrategy[str]:
    return st.builds(lambda region, days, seq: idnumber.make(region, date(1880, 1, 1) + timedelta(days=days), seq),
                     st.from_regex(r"[1-8][0-9]{5}", fullmatch=True), st.integers(0, 50_000), st.integers(0, 999))


def damaged(s: str, at: int, ch: str) -> str:
    return s[:at] + ch + s[at + 1:]


ids = st.one_of(
    good_ids(),
    st.builds(damaged, good_ids(), st.integers(0, 17), st.sampled_from("0123456789Xx a-")),   # one character off
    good_ids().map(str.lower), good_ids().map(lambda s: f" {s}"), good_ids().map(lambda s: s[:17]),
    st.from_regex(r"[0-9]{6}(18|19|20)[0-9]{2}(0[0-9]|1[0-3])[0-3][0-9][0-9]{3}[0-9X]", fullmatch=True),  # odd dates
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ids, min_size=1, max_size=40))
def test_the_column_form_agrees_with_normalize(values):
    assert idnumber.exact_column(pa.array(values, type=pa.string())).tolist() == [exact(v) for v in values]


def test_a_future_birth_date_and_29_february_are_judged_alike():
    tomorrow = date.today() + timedelta(days=1)
    values = [idnumber.make("640122", tomorrow, 1), idnumber.make("640122", date(2000, 2, 29), 1),
              damaged(idnumber.make("640122", date(2001, 2, 28), 1), 13, "9")]
    assert idnumber.exact_column(pa.array(values)).tolist() == [exact(v) for v in values] == [False, True, False]
