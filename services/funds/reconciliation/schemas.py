from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationError, WrapValidator

from services.funds.glossary import BreakKind, LineStatus, ReconciliationStatus
from services.funds.reconciliation.reference import REFERENCE_PATTERN, parse_end_to_end_id
from shared.http_types import text
from shared.money import Money, PositiveMoney

MAX_ENTRIES = 100_000


def _reference(value, handler) -> str:
    """The strict format, checked in pydantic's core (fast, for 100,000 entries); refused with the parser's message."""
    try:
        return handler(value)
    except ValidationError:
        parse_end_to_end_id(value if isinstance(value, str) else "")
        raise


EndToEndId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40, pattern=REFERENCE_PATTERN),
                       WrapValidator(_reference)]


class StatementEntryIn(BaseModel):
    end_to_end_id: EndToEndId = Field(description="the line reference sent with the batch: JZ-<batch id>-<line id>")
    amount: PositiveMoney
    booked_on: date
    bank_ref: text(64) | None = None
    reversal: bool = Field(False, description="the bank took this booking back (退回): re-opens a paid line's money")


class StatementIn(BaseModel):
    statement_id: text(64, min_length=1) = Field(description="the bank's id of the statement: the same one twice "
                                                             "changes nothing")
    booked_on: date
    entries: list[StatementEntryIn] = Field(max_length=MAX_ENTRIES)


class StatementRead(BaseModel):
    statement_id: str
    bank_code: str
    booked_on: date
    received_at: datetime
    duplicate: bool = Field(description="true when this statement was received before: nothing changed")
    entries: int
    total: Money = Field(description="what the bookings add up to, reversals apart")
    reversed_total: Money = Field(description="what the reversals add up to")
    matched: int = Field(description="entries naming a line reference of a batch sent to this bank")
    unmatched: int = Field(description="entries naming no batch sent to this bank: they reconcile nothing")
    unmatched_end_to_end_ids: list[str] = Field(description="the first 100 of them")
    disbursement_ids: list[int] = Field(description="the batches the statement names")
    reversed: int = Field(description="paid lines whose money this statement re-opened")


class BreakRead(BaseModel):
    line_id: int
    kind: BreakKind
    kind_label: str
    detail: str
    household_id: int | None = Field(description="null when the batch has no such line")
    line_status: LineStatus | None
    amount: Money | None = Field(description="the line's amount")
    booked: Money | None = Field(description="what statements booked for it (reversals apart)")
    bank_ref: str | None = Field(description="the bank's reference of its result or, failing that, its booking")


class ReconciliationRead(BaseModel):
    disbursement_id: int
    bank_code: str | None
    status: ReconciliationStatus
    status_label: str
    counts: dict[BreakKind, int] = Field(description="breaks of each kind, over the whole batch")
    breaks: list[BreakRead]
    next_cursor: str | None = None
