from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.funds.glossary import DisbursementStatus, LineStatus, Purpose
from shared.http_types import JSON_INT_MAX, text
from shared.money import Money, PositiveMoney

HouseholdId = Field(ge=1, le=JSON_INT_MAX)
MAX_LINES = 5000


class LineIn(BaseModel):
    household_id: int = HouseholdId
    amount: PositiveMoney
    memo: text(200) = ""


class DisbursementCreate(BaseModel):
    allocation_id: int = Field(ge=1, le=JSON_INT_MAX)
    title: text(200, min_length=2)
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _once_each(self) -> "DisbursementCreate":
        seen: set[int] = set()
        for line in self.lines:
            if line.household_id in seen:
                raise ValueError(f"household {line.household_id} is listed twice; a household is paid at most "
                                 "once per batch")
            seen.add(line.household_id)
        return self


class LineRead(BaseModel):
    household_id: int
    household_no: str
    head_name: str
    head_id_number: str | None = Field(description="masked")
    village_code: str
    amount: Money
    memo: str
    account_no: str | None = Field(description="the 一卡通 account, masked")
    status: LineStatus
    status_label: str
    bank_ref: str | None
    reason: str | None
    final_at: datetime | None


class DisbursementRead(BaseModel):
    id: int
    allocation_id: int
    title: str
    region_code: str
    purpose: Purpose
    purpose_label: str
    status: DisbursementStatus
    status_label: str
    total: Money = Field(description="the lines as listed")
    payable: Money = Field(description="the lines not struck by an upheld objection")
    paid: Money
    notice_id: int | None
    bank_code: str | None
    created_by: str
    approved_by: str | None
    created_at: datetime
    version: int
    lines: list[LineRead]


class PublicizeIn(BaseModel):
    days: int | None = Field(None, ge=0, le=60, description="length of the 公示; default and minimum "
                                                           "JINGZHUN_NOTICE_MIN_DAYS")


class Publicized(BaseModel):
    notice_id: int


class SendIn(BaseModel):
    bank_code: text(32, min_length=2)


class BankLineRead(BaseModel):
    household_id: int
    household_no: str
    head_name: str
    amount: Money
    account_bank_code: str | None
    account_no: str | None = Field(description="in full: the bank pays into it")
    status: LineStatus


class BankDisbursementRead(BaseModel):
    id: int
    title: str
    purpose: Purpose
    purpose_label: str
    region_code: str
    status: DisbursementStatus
    lines: list[BankLineRead]


class ResultIn(BaseModel):
    household_id: int = HouseholdId
    status: Literal["paid", "failed"]
    bank_ref: text(64) | None = None
    reason: text(500) | None = None


class ResultsIn(BaseModel):
    lines: list[ResultIn] = Field(min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _once_each(self) -> "ResultsIn":
        ids = [r.household_id for r in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("a household appears twice in one results post")
        return self


class ResultOutcome(BaseModel):
    household_id: int
    status: LineStatus
    outcome: Literal["applied", "unchanged"]


class ResultsRead(BaseModel):
    disbursement_id: int
    status: DisbursementStatus
    lines: list[ResultOutcome]
