from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from services.funds.glossary import RiskClaimStatus
from shared.http_types import text
from shared.money import Money


class RiskClaimRead(BaseModel):
    id: int
    loan_no: str
    bank_code: str
    household_id: int
    region_code: str = Field(description="the borrower's village")
    defaulted_on: date
    principal: Money = Field(description="the defaulted principal (outstanding when the loan defaulted)")
    share: Decimal = Field(description="the share the fund pays (JINGZHUN_RISK_SHARE)")
    amount: Money = Field(description="principal × share, rounded half-up to the fen")
    status: RiskClaimStatus
    status_label: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    decided_by: str | None = Field(description="who paid or rejected it")
    decided_at: datetime | None
    note: str | None
    allocation_id: int | None = Field(description="the risk_compensation allocation it was paid from")
    entry_id: int | None = Field(description="the ledger entry that paid it")
    created_at: datetime
    version: int


class ReviewIn(BaseModel):
    note: text(500) | None = None


class RejectIn(BaseModel):
    reason: text(500, min_length=1)
