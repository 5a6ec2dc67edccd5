"""OpenAPI examples for the partner banks' loan-event posts: one request per kind, the answers, the problems.
A bank's developer integrates from ``/docs`` alone."""

from typing import Any

from shared.problems import PROBLEM_REF

ID = "640122197001010012"
LOAN = {"loan_no": "NX2020-0001", "id_number": ID}


def _event(event_id: str, kind: str, at: str, summary: str, **fields: Any) -> dict[str, Any]:
    return {"summary": summary, "value": {"event_id": event_id, **LOAN, "kind": kind, "occurred_at": at, **fields}}


REQUESTS = {
    "rated": _event("NX-EV-1001", "rated", "2020-01-05T09:00:00+08:00", "评级授信: rating and credit line",
                    rating="AA", credit_line="50000.00"),
    "issued": _event("NX-EV-1002", "issued", "2020-02-01T10:00:00+08:00",
                     "放款: amount, yearly rate and term are required", amount="50000.00", rate="0.0435",
                     term_months=36),
    "repaid": _event("NX-EV-1003", "repaid", "2020-08-01T09:00:00+08:00",
                     "还款: principal repaid (amount required; partly: repaying 还款中)", amount="20000.00"),
    "overdue": _event("NX-EV-1004", "overdue", "2023-02-02T00:00:00+08:00", "逾期: overdue from that day"),
    "extended": _event("NX-EV-1005", "extended", "2023-02-10T09:00:00+08:00",
                       "展期: the new term in months from the issue (required) and, if it changes, the rate",
                       term_months=48, rate="0.0435"),
    "settled": _event("NX-EV-1006", "settled", "2024-02-01T09:00:00+08:00", "结清: closed, nothing outstanding"),
    "defaulted": _event("NX-EV-1007", "defaulted", "2023-06-01T09:00:00+08:00",
                        "代偿: written off; opens a 风险补偿 claim for the outstanding principal"),
}

_LOAN = {"loan_no": "NX2020-0001", "bank_code": "NXRCU", "household_id": 1024, "region_code": "640122100001",
         "id_number": "640122********0012", "status": "repaying", "status_label": "还款中", "rating": "AA",
         "credit_line": "50000.00", "principal": "50000.00", "outstanding": "30000.00", "rate": "0.043500",
         "term_months": 36, "issued_on": "2020-02-01", "matures_on": "2023-02-01", "days_overdue": 0,
         "events": [{"event_id": "NX-EV-1002", "kind": "issued", "kind_label": "放款",
                     "occurred_at": "2020-02-01T10:00:00+08:00", "amount": "50000.00",
                     "received_at": "2020-02-01T10:00:03+08:00"},
                    {"event_id": "NX-EV-1003", "kind": "repaid", "kind_label": "还款",
                     "occurred_at": "2020-08-01T09:00:00+08:00", "amount": "20000.00",
                     "received_at": "2020-08-01T09:00:02+08:00"}],
         "schedule": [{"due_on": "2023-02-01", "principal": "30000.00", "interest": "326.25"}]}

ANSWERS = {
    201: {"description": "Stored: the loan as its events now say",
          "content": {"application/json": {"examples": {"stored": {"summary": "a new event",
                                                                   "value": {"stored": True, "loan": _LOAN}}}}}},
    200: {"description": "A known event_id (a retry, or the same event posted again): nothing changed",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LoanEventAnswer"},
                                           "examples": {"duplicate": {"summary": "already stored",
                                                                      "value": {"stored": False, "loan": _LOAN}}}}}},
}


def _problem(slug: str, title: str, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"https://jingzhun.example/problems/{slug}", "title": title, "status": status, "detail": detail,
            **extra}


PROBLEMS = {
    404: {"another-banks-loan": {"summary": "the loan_no is another bank's (or the loan is unknown to you)",
                                 "value": _problem("not-found", "Not found", 404, "No such loan")}},
    409: {"impossible": {"summary": "the loan's history makes the event impossible",
                         "value": _problem("impossible-event", "Impossible loan event", 409,
                                           "repaid event NX-EV-1009 cannot be: repays 40000.00 but only 30000.00 was "
                                           "outstanding then")},
          "after-end": {"summary": "an event after the loan ended",
                        "value": _problem("impossible-event", "Impossible loan event", 409,
                                          "repaid event NX-EV-1010 cannot be: the loan was settled on 2024-02-01")},
          "reused": {"summary": "the event_id was stored with other content",
                     "value": _problem("event-id-reused", "Conflict", 409,
                                       "event NX-EV-1003 was stored with other content")},
          "borrower": {"summary": "the loan belongs to another borrower",
                       "value": _problem("borrower-mismatch", "Conflict", 409,
                                         "loan NX2020-0001 belongs to another borrower")},
          "key": {"summary": "the Idempotency-Key was used with another body",
                  "value": _problem("idempotency-key-reused", "Conflict", 409,
                                    "Idempotency-Key was already used with another request")}},
    422: {"unknown-borrower": {"summary": "the ID number is in no 建档立卡 household",
                               "value": _problem("validation", "Invalid field", 422,
                                                 "The borrower is not a member of a registered household",
                                                 errors=[{"loc": ["body", "id_number"], "msg": "The borrower is not "
                                                          "a member of a registered household"}])},
          "bad-amount": {"summary": "a missing or bad field (here: a repayment without amount)",
                         "value": _problem("validation", "Invalid field", 422, "One or more fields are invalid",
                                           errors=[{"loc": ["body"],
                                                    "msg": "Value error, a repaid event needs amount"}])},
          "no-key": {"summary": "no Idempotency-Key header",
                     "value": _problem("validation", "Invalid field", 422, "One or more fields are invalid",
                                       errors=[{"loc": ["header", "idempotency-key"], "msg": "Field required"}])}},
}


def problem_docs() -> dict[int, dict[str, Any]]:
    return {status: {"description": {404: "Unknown loan, or another bank's", 409: "Conflict with the loan or key",
                                     422: "Invalid field, or unknown borrower"}[status],
                     "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_REF},
                                                              "examples": examples}}}
            for status, examples in PROBLEMS.items()}


REJECTED = {"items": [{"id": 7, "event_id": "NX-EV-1009", "loan_no": "NX2020-0001", "kind": "repaid", "status": 409,
                       "problem_type": "https://jingzhun.example/problems/impossible-event",
                       "reason": "repaid event NX-EV-1009 cannot be: repays 40000.00 but only 30000.00 was "
                                 "outstanding then", "errors": None,
                       "body": {"event_id": "NX-EV-1009", "loan_no": "NX2020-0001", "id_number": "640122********0012",
                                "kind": "repaid", "occurred_at": "2020-09-01T09:00:00+08:00", "amount": "40000.00"},
                       "attempts": 2, "first_at": "2020-09-01T09:00:05+08:00", "last_at": "2020-09-01T09:10:05+08:00",
                       "accepted_at": None}],
            "next_cursor": None}
