from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError, WithJsonSchema, WrapValidator

from services.funds.glossary import BreakKind, LineStatus, ReconciliationStatus
from services.funds.reconciliation.reference import REFERENCE_PATTERN, parse_end_to_end_id
from shared.http_types import text
from shared.money import Money, PositiveMoney, format_money

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
# A statement's 100,000 amounts and references are mostly written the plain way: that way is checked in pydantic's
# core (a string of yuan with two decimals, more than 0 and under 1e12; printable ASCII), anything else by the
# house rules (shared.money, shared.http_types.text), which accept or refuse exactly as everywhere else.
_PLAIN_AMOUNT = r"^(?:[1-9][0-9]{0,11}\.[0-9]{2}|0\.(?:0[1-9]|[1-9][0-9]))$"
_money, _text = TypeAdapter(PositiveMoney), TypeAdapter(text(64))


def _or_house_rule(adapter: TypeAdapter, then=str):
    def validate(value, handler):
        try:
            return handler(value)
        except ValidationError:
            try:
                return then(adapter.validate_python(value))
            except ValidationError as exc:
                raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return WrapValidator(validate)


# always a string of yuan with two decimals, such as "1500.00", once checked
EntryAmount = Annotated[str, StringConstraints(pattern=_PLAIN_AMOUNT), _or_house_rule(_money, format_money),
                        WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "examples": ["1500.00"]})]
BankRef = Annotated[str, StringConstraints(max_length=64, pattern=r"^[!-~](?:[ -~]*[!-~])?$"), _or_house_rule(_text),
                    WithJsonSchema({"type": "string", "maxLength": 64, "examples": ["NX20200615000123"]})]


class StatementEntryIn(BaseModel):
    end_to_end_id: EndToEndId = Field(description="the line reference sent with the batch: JZ-<batch id>-<line id>")
    amount: EntryAmount
    booked_on: date
    bank_ref: BankRef | None = None
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
