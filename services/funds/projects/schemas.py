from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from services.funds.glossary import PaymentStage, ProjectAction, ProjectStatus, Purpose
from shared.http_types import JSON_INT_MAX, Id, text
from shared.money import Money, PositiveMoney
from shared.regions import RegionCode


class ProjectCreate(BaseModel):
    name: text(200, min_length=2)
    purpose: Purpose
    village_code: RegionCode
    budget: PositiveMoney
    beneficiary_household_ids: list[Id] = Field(default_factory=list, max_length=5000)

    @field_validator("beneficiary_household_ids")
    @classmethod
    def _ids(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("a household is listed twice")
        return v


class TransitionIn(BaseModel):
    action: ProjectAction
    reason: text(500) = ""


class FundingIn(BaseModel):
    allocation_id: int = Field(ge=1, le=JSON_INT_MAX)
    amount: PositiveMoney


class PaymentIn(BaseModel):
    amount: PositiveMoney
    payee: text(200, min_length=2)
    stage: PaymentStage
    memo: text(500) = ""


class FundingRead(BaseModel):
    id: int
    project_id: int
    allocation_id: int
    amount: Money
    spent: Money
    released: Money
    entry_id: int = Field(description="the ledger entry that committed it (available → committed)")
    created_by: str
    created_at: datetime


class PaymentRead(BaseModel):
    id: int
    project_id: int
    amount: Money
    payee: str
    stage: PaymentStage
    stage_label: str
    memo: str
    entry_ids: list[int] = Field(description="the ledger entries that spent it, one per funding it drew on")
    created_by: str
    created_at: datetime


class ProjectRead(BaseModel):
    """A project and its totals; its fundings and payments are lists of their own
    (``/api/v1/projects/{id}/fundings``, ``/api/v1/projects/{id}/payments``)."""

    id: int
    name: str
    purpose: Purpose
    purpose_label: str
    village_code: str
    budget: Money
    funded: Money = Field(description="committed from allocations")
    paid: Money
    unpaid: Money = Field(description="committed and not yet paid or released")
    advance_limit: Money = Field(description="the most paid before 验收: JINGZHUN_ADVANCE_SHARE of the budget")
    beneficiary_household_ids: list[int]
    status: ProjectStatus
    status_label: str
    proposed_by: str
    created_at: datetime
    version: int
