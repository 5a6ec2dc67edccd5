from datetime import datetime

from pydantic import BaseModel, Field

from services.funds.glossary import AccountKind, AdjustmentStatus, EntryKind, Purpose
from shared.http_types import JSON_INT_MAX, Year, text
from shared.money import Money, PositiveMoney
from shared.regions import RegionCode


class AllocationCreate(BaseModel):
    source_id: int = Field(ge=1, le=JSON_INT_MAX)
    region_code: RegionCode
    purpose: Purpose
    amount: PositiveMoney
    year: Year
    doc_no: text(100, min_length=1)


class AllocationRead(BaseModel):
    id: int
    source_id: int
    region_code: str
    purpose: Purpose
    purpose_label: str
    year: int
    doc_no: str
    granted: Money = Field(description="as first allocated")
    amount: Money = Field(description="what it holds now: available + committed + spent")
    committed: Money
    spent: Money
    available: Money
    adjustment_id: int | None = Field(description="the 调项 that created it, if one did")
    created_by: str
    created_at: datetime
    version: int


class EntryLineRead(BaseModel):
    line_id: int
    account: AccountKind = Field(description="source, available, committed or spent")
    account_label: str
    allocation_id: int | None = Field(description="the allocation the account belongs to; null for the source's")
    source_id: int
    amount: str = Field(description="signed yuan: + into the account, - out of it", examples=["-3000.00"])


class EntryRead(BaseModel):
    """One ledger entry that moved the allocation, with every line (both sides): the amounts sum to zero."""

    entry_id: int
    kind: EntryKind
    kind_label: str
    ref: str
    memo: str
    reverses_id: int | None
    actor: str
    at: datetime
    lines: list[EntryLineRead]


class AdjustmentCreate(BaseModel):
    to_purpose: Purpose
    amount: PositiveMoney
    reason: text(500, min_length=2)


class AdjustmentDecision(BaseModel):
    reason: text(500) = ""


class AdjustmentRead(BaseModel):
    id: int
    allocation_id: int
    from_purpose: Purpose
    to_purpose: Purpose
    to_purpose_label: str
    amount: Money
    reason: str
    status: AdjustmentStatus
    status_label: str
    proposed_by: str
    decided_by: str | None
    decided_at: datetime | None
    new_allocation_id: int | None
    entry_id: int | None
    version: int


class ReversalCreate(BaseModel):
    reason: text(500, min_length=2)
