from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.funds.glossary import DisbursementStatus, LineStatus, Purpose
from shared.http_types import JSON_INT_MAX, text
from shared.money import Money, PositiveMoney

HouseholdId = Field(ge=1, le=JSON_INT_MAX)
MAX_LINES = 100_000        # a county's 低保 or 扶贫保 batch


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
    id: int
    end_to_end_id: str = Field(description="the line's reference with the bank: `JZ-{batch id}-{line id}`")
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


class LineCounts(BaseModel):
    listed: int = Field(0, description="waiting for the bank (or for approval)")
    struck: int = Field(0, description="cancelled by an upheld objection to the 公示")
    paid: int = 0
    failed: int = 0


class WarningRead(BaseModel):
    """A line for a household already paid, or committed in another approved batch, for the same purpose in the
    same (allocation) year: a possible duplicate payment, for the approver to look at."""

    line_id: int
    household_id: int
    earlier_disbursement_id: int
    earlier_line_id: int
    earlier_status: Literal["paid", "committed"] = Field(description="paid, or committed in an approved batch not "
                                                                     "yet settled")
    detail: str


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
    failed: Money
    line_count: int = Field(description="lines listed (all statuses)")
    line_counts: LineCounts
    warnings: list[WarningRead] = Field(description="possible duplicate payments, in line order (the first "
                                                    "100; all at `GET …/warnings`)")
    warning_count: int
    notice_id: int | None
    bank_code: str | None
    created_by: str
    approved_by: str | None
    created_at: datetime
    version: int


class PublicizeIn(BaseModel):
    days: int | None = Field(None, ge=0, le=60, description="length of the 公示; default and minimum "
                                                           "JINGZHUN_NOTICE_MIN_DAYS")


class Publicized(BaseModel):
    notice_id: int


class SendIn(BaseModel):
    bank_code: text(32, min_length=2)


class BankLineRead(BaseModel):
    line_id: int
    end_to_end_id: str = Field(description="`JZ-{batch id}-{line id}`: quote it on the credit and in the statement "
                                           "(对账)")
    household_id: int
    household_no: str
    head_name: str
    amount: Money
    account_bank_code: str | None
    account_no: str | None = Field(description="in full: the bank pays into it")
    status: LineStatus
    bank_ref: str | None
    reason: str | None
    final_at: datetime | None


class BankBatchSummary(BaseModel):
    """A batch as its bank sees it, with the control totals of the lines to pay (lines struck by an objection to
    the 公示 are not part of it)."""

    id: int
    title: str
    purpose: Purpose
    purpose_label: str
    region_code: str
    status: DisbursementStatus
    line_count: int = Field(description="control total: the lines to pay (ISO 20022 NbOfTxs)")
    control_sum: Money = Field(description="control total: the sum of their amounts (ISO 20022 CtrlSum)")
    line_counts: LineCounts = Field(description="how far the bank's results have come")
    paid: Money
    failed: Money


class BankDisbursementRead(BankBatchSummary):
    lines: list[BankLineRead] = Field(description="the first page of lines, in order")
    lines_next_cursor: str | None = Field(description="for `GET /api/v1/bank/disbursements/{id}/lines?cursor=`; "
                                                      "null when `lines` holds them all")


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
    applied: int = Field(description="lines settled by this post")
    unchanged: int = Field(description="lines this post repeated with the status they already had")
    lines: list[ResultOutcome] = Field(description="per posted line, in the order posted")
