"""What a bank's developer reads in ``/docs``: full request and answer examples for the bank's batch reads and its
results post, and each problem they may answer, made by the same Problem classes the handlers render."""

from __future__ import annotations

from typing import Any

from shared.i18n import EN
from shared.problems import (BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Problem, Unauthorized,
                             Unprocessable)

_LINE = {"line_id": 88121, "end_to_end_id": "JZ-1203-88121", "household_id": 5521, "household_no": "6401221010010031",
         "head_name": "马文军", "amount": "1500.00", "account_bank_code": "NXRCU", "account_no": "6228480012345678901",
         "status": "listed", "bank_ref": None, "reason": None, "final_at": None}
_SUMMARY = {"id": 1203, "title": "2020年产业到户补贴（第一批）", "purpose": "industry", "purpose_label": "产业发展",
            "region_code": "640122101000", "status": "sent", "line_count": 100000, "control_sum": "150000000.00",
            "line_counts": {"listed": 100000, "struck": 0, "paid": 0, "failed": 0}, "paid": "0.00", "failed": "0.00"}
BATCH = _SUMMARY | {"lines": [_LINE], "lines_next_cursor": "eyJpZCI6ODg2MjB9"}
BATCHES = {"items": [_SUMMARY], "next_cursor": None}
LINES = {"items": [_LINE, _LINE | {"line_id": 88122, "end_to_end_id": "JZ-1203-88122", "household_id": 5522,
                                   "household_no": "6401221010010032", "head_name": "李秀英"}],
         "next_cursor": "eyJpZCI6ODgxMjJ9"}
RESULTS_IN = {"lines": [
    {"household_id": 5521, "status": "paid", "bank_ref": "NX2020060100001", "reason": None},
    {"household_id": 5522, "status": "failed", "bank_ref": None, "reason": "账户已销户"}]}
RESULTS_OUT = {"disbursement_id": 1203, "status": "sent", "applied": 2, "unchanged": 0, "lines": [
    {"household_id": 5521, "status": "paid", "outcome": "applied"},
    {"household_id": 5522, "status": "failed", "outcome": "applied"}]}

RESULTS_DESCRIPTION = """
Post the outcome of each line, in as many posts as you like (one post holds up to 100,000 lines, the batch's
maximum; a 100,000-line post is about 9 MB, under the 25 MB body limit). Each post needs its own
`Idempotency-Key`: the same key with the same body answers the first answer again (`Idempotent-Replayed: true`),
with another body 409.

* `paid`: the line's committed money is spent, and the household head gets an SMS;
* `failed` (give a `reason`): the money goes back to the allocation.

A line's final status never changes: posting the same status again answers `unchanged`; posting the other one
is 409 (`/line-final`, the households named) and nothing in the post is applied. A household that is not a
payable line of the batch (unknown, or struck by an objection to the 公示) is 422 and nothing is applied. The batch
becomes `done` when every line is paid or failed. Lines are identified by `household_id`; quote the line's
`end_to_end_id` (`JZ-{batch id}-{line id}`) on the credit transfer and in your statements (对账).
"""

BATCH_DESCRIPTION = """
The batch's control totals (`line_count`, `control_sum`: the lines to pay, as ISO 20022 `NbOfTxs` and `CtrlSum`),
progress (`line_counts`, `paid`, `failed`) and the first 500 lines with full account numbers. Fetch the rest
with `GET /api/v1/bank/disbursements/{id}/lines?cursor=` (the answer's `lines_next_cursor`) until `next_cursor`
is null. Lines struck by an objection to the 公示 are not part of the batch you pay.
"""


def _problem(cls: type[Problem], detail: str, **kw: Any) -> dict[str, Any]:
    return {"summary": detail, "value": cls(detail, **kw).body(EN)}


def problems(**by_status: dict[str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries: ``s409={"name": example, …}`` becomes a documented 409 with those examples (served,
    like every problem, as ``application/problem+json`` with the one ``ProblemBody`` schema: see
    ``shared.problems.document_problems``)."""
    out: dict[int | str, dict[str, Any]] = {}
    for key, examples in by_status.items():
        status = int(key[1:])
        out[status] = {"description": next(iter(examples.values()))["value"]["title"], "content": {
            "application/json": {"examples": examples}}}
    return out


NO_TOKEN = {"no_token": _problem(Unauthorized, "Authentication required")}
NOT_BANK = {"not_bank": _problem(Forbidden, "This operation needs the role bank")}
NOT_YOURS = {"unknown": _problem(NotFound, "No such disbursement")}
BAD_CURSOR = {"cursor": _problem(BadRequest, "cursor is not one this API issued")}
BAD_LIMIT = {"limit": _problem(Unprocessable, "One or more fields are invalid", errors=[
    {"loc": ["query", "limit"], "msg": "Input should be less than or equal to 5000"}])}

READ_PROBLEMS = problems(s400=BAD_CURSOR, s401=NO_TOKEN, s403=NOT_BANK, s404=NOT_YOURS, s422=BAD_LIMIT)
RESULTS_PROBLEMS = problems(
    s400={"empty_key": _problem(BadRequest, "Idempotency-Key must be a non-empty string")},
    s401=NO_TOKEN, s403=NOT_BANK, s404=NOT_YOURS,
    s409={"final": _problem(Conflict, "Lines for 1 household(s) were already settled otherwise; a final status "
                                      "never changes: [5521]", slug="line-final", households=[5521]),
          "not_sent": _problem(Conflict, "The batch is approved; it cannot be settled now",
                               slug="disbursement-state", status_now="approved"),
          "key_reused": _problem(Conflict, "Idempotency-Key was already used with another request",
                                 slug="idempotency-key-reused")},
    s413={"too_large": _problem(PayloadTooLarge, "body exceeds 25 MB")},
    s422={"not_a_line": _problem(Unprocessable, "1 line(s) cannot be paid", errors=[
              {"loc": ["body", "lines", 0, "household_id"], "type": "value_error",
               "msg": "not a payable line of this batch"}]),
          "no_key": _problem(Unprocessable, "One or more fields are invalid", errors=[
              {"loc": ["header", "idempotency-key"], "msg": "Field required"}]),
          "too_many": _problem(Unprocessable, "One or more fields are invalid", errors=[
              {"loc": ["body", "lines"], "msg": "List should have at most 100000 items after validation, not "
                                                "100001"}])})


def ok(example: dict[str, Any], description: str = "OK") -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {"application/json": {"example": example}}}}
