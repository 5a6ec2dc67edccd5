from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from services.funds.glossary import LoanEventKind, LoanStatus
from shared.http_types import JSON_INT_MAX, text
from shared.idnumber import IdNumber
from shared.money import Money

Code = text(64, min_length=1)


class LoanEventIn(BaseModel):
    event_id: Code
    loan_no: Code
    id_number: IdNumber
    kind: LoanEventKind
    occurred_at: AwareDatetime
    amount: Money | None = None
    rate: Decimal | None = Field(None, ge=0, le=Decimal("0.36"), max_digits=8, decimal_places=6,
                                 description="yearly, e.g. 0.0435")
    term_months: int | None = Field(None, ge=1, le=120)
    credit_line: Money | None = None
    rating: text(16) | None = None

    @model_validator(mode="after")
    def _needs(self) -> "LoanEventIn":
        needed = {"issued": ("amount", "rate", "term_months"), "repaid": ("amount",), "rated": ("credit_line",),
                  "extended": ("term_months",)}.get(self.kind.value, ())
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind.value} event needs {', '.join(missing)}")
        if self.kind.value in ("issued", "repaid") and self.amount is not None and self.amount <= 0:
            raise ValueError("amount must be more than 0")
        return self

    @field_validator("occurred_at")
    @classmethod
    def _not_future(cls, v: datetime) -> datetime:
        if v - datetime.now(v.tzinfo) > timedelta(days=1):
            raise ValueError("occurred_at is in the future")
        return v


class LoanEventRead(BaseModel):
    event_id: str
    kind: LoanEventKind
    kind_label: str
    occurred_at: datetime
    amount: Money | None
    received_at: datetime


class ScheduleItem(BaseModel):
    due_on: date
    principal: Money
    interest: Money = Field(description="expected at today's outstanding principal and rate")


class LoanRead(BaseModel):
    loan_no: str
    bank_code: str
    household_id: int
    region_code: str
    id_number: str = Field(description="the borrower's, masked")
    status: LoanStatus
    status_label: str
    rating: str | None
    credit_line: Money
    principal: Money
    outstanding: Money
    rate: Decimal | None
    term_months: int | None
    issued_on: date | None
    matures_on: date | None
    days_overdue: int
    events: list[LoanEventRead]
    schedule: list[ScheduleItem]


class LoanEventAnswer(BaseModel):
    stored: bool = Field(description="false when this event_id had been stored already")
    loan: LoanRead


class SubsidyIn(BaseModel):
    period_start: date
    period_end: date
    allocation_id: int = Field(ge=1, le=JSON_INT_MAX)

    @model_validator(mode="after")
    def _period(self) -> "SubsidyIn":
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if (self.period_end - self.period_start).days > 366:
            raise ValueError("a period is at most a year")
        return self


class SubsidyLine(BaseModel):
    loan_no: str
    days: int
    amount: Money


class SubsidyRead(BaseModel):
    period_start: date
    period_end: date
    allocation_id: int
    total: Money
    lines: list[SubsidyLine]


class LoanStats(BaseModel):
    region_code: str
    households_rated: int
    credit_granted: Money
    loans_issued: int
    amount_issued: Money
    outstanding: Money
    overdue_outstanding: Money
    overdue_rate: float | None = Field(description="overdue outstanding ÷ outstanding")
    repaid: Money
    compensated: Money = Field(description="principal the risk compensation fund paid (代偿)")
    recovery_rate: float | None = Field(description="principal repaid ÷ (repaid + compensated)")
    loans_by_status: dict[LoanStatus, int] = Field(
        description="loans per status: rated 已授信, issued 正常, repaying 还款中, overdue 逾期, extended 展期, "
                    "settled 已结清, defaulted 已代偿")


class LoanEventRejectionRead(BaseModel):
    id: int
    event_id: str
    loan_no: str | None
    kind: str | None
    status: int = Field(description="the HTTP status the post was answered with")
    problem_type: str = Field(description="the problem's ``type``")
    reason: str = Field(description="the problem's ``detail``")
    errors: list[dict[str, Any]] | None = Field(description="per field, for an invalid field (422)")
    body: dict[str, Any] = Field(description="the event as posted, the ID number masked")
    attempts: int = Field(description="how many times this event_id was posted and refused")
    first_at: datetime
    last_at: datetime
    accepted_at: datetime | None = Field(description="when the same event_id was later stored")
