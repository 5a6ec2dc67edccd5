"""Household and member bodies (CONTRACT §4). Codes are the glossary's enums: an unknown code is a 422."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.registry.glossary import (
    Attribute,
    Cause,
    Education,
    Health,
    Labor,
    Relation,
)
from services.registry.monitoring.cases.schemas import HouseholdCase
from shared.http_types import JSON_INT_MAX, Name, Phone, Year, text
from shared.idnumber import IdNumber
from shared.regions import RegionCode

Address = text(200, min_length=1)
BankCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{2,32}$")]
AccountNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{8,30}$")]
MAX_MEMBERS = 30


class PayoutAccount(BaseModel):
    """一卡通: the account household subsidies are paid to."""

    bank_code: BankCode
    account_no: AccountNo


class MemberIn(BaseModel):
    name: Name
    id_number: IdNumber = Field(description="GB 11643, 18 characters; a lower-case x is accepted")
    relation: Relation
    health: Health
    labor: Labor
    education: Education | None = None
    in_school: bool = False
    migrant_worker: bool = False


def _one_head(members: list[MemberIn]) -> list[MemberIn]:
    heads = sum(1 for m in members if m.relation is Relation.head)
    if heads != 1:
        raise ValueError(f'exactly one member must have relation "head" (found {heads})')
    seen: set[str] = set()
    for m in members:
        if m.id_number in seen:
            raise ValueError(f"ID number {m.id_number[:6]}…{m.id_number[-4:]} is listed twice")
        seen.add(m.id_number)
    return members


def _causes(causes: list[Cause]) -> list[Cause]:
    return list(dict.fromkeys(causes))


class HouseholdCreate(BaseModel):
    village_code: RegionCode
    status: Literal["pending", "ordinary"] = Field(
        "pending", description="pending 识别中 (建档立卡, through 公示), or ordinary 一般农户 (recorded for 防返贫监测 only; "
                               "never counted in poverty_incidence)")
    address: Address
    phone: Phone | None = None
    attribute: Attribute
    main_cause: Cause
    other_causes: list[Cause] = Field(default_factory=list, max_length=11)
    identified_year: Year
    payout_account: PayoutAccount | None = None
    members: list[MemberIn] = Field(min_length=1, max_length=MAX_MEMBERS)

    @field_validator("members")
    @classmethod
    def exactly_one_head(cls, members: list[MemberIn]) -> list[MemberIn]:
        return _one_head(members)

    @field_validator("other_causes")
    @classmethod
    def distinct_causes(cls, causes: list[Cause]) -> list[Cause]:
        return _causes(causes)


class HouseholdUpdate(BaseModel):
    """Only the fields sent change; ``phone`` and ``payout_account`` may be set to null to clear them.
    The village, the members and the status change through their own operations."""

    model_config = ConfigDict(extra="forbid")

    address: Address | None = None
    phone: Phone | None = None
    attribute: Attribute | None = None
    main_cause: Cause | None = None
    other_causes: list[Cause] | None = Field(None, max_length=11)
    identified_year: Year | None = None
    payout_account: PayoutAccount | None = None

    @field_validator("other_causes")
    @classmethod
    def distinct_causes(cls, causes: list[Cause] | None) -> list[Cause] | None:
        return None if causes is None else _causes(causes)


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    id_number: IdNumber | None = None
    relation: Relation | None = None
    health: Health | None = None
    labor: Labor | None = None
    education: Education | None = None
    in_school: bool | None = None
    migrant_worker: bool | None = None


NULLABLE_HOUSEHOLD = frozenset({"phone", "payout_account"})
NULLABLE_MEMBER = frozenset({"education"})


# --- answers (documentation of what the views build) ------------------------------------------------------

class PayoutAccountRead(BaseModel):
    bank_code: str
    account_no: str = Field(description="masked unless the caller may see personal data")


class PendingAction(BaseModel):
    action: str
    notice_id: int
    year: int | None = None


class MemberRead(BaseModel):
    id: int
    household_id: int
    name: str
    id_number: str = Field(description="masked (640122********123X) unless the caller may see personal data")
    sex: str
    sex_label: str
    birth_date: date
    age: int
    relation: str
    relation_label: str
    health: str
    health_label: str
    labor: str
    labor_label: str
    education: str | None
    education_label: str | None
    in_school: bool
    migrant_worker: bool
    version: int


class IncomeRead(BaseModel):
    year: int
    wage: str
    production: str
    transfer: str
    property: str
    expenses: str
    net_income: str = Field(description="wage + production + transfer + property − expenses; may be negative")
    members: int
    per_capita_net: str = Field(description="net_income ÷ members, half-up to the fen; may be negative")


class AssuranceRead(BaseModel):
    year: int
    food: bool
    clothing: bool
    education: bool
    medical: bool
    housing: bool
    water: bool
    all_met: bool


class HouseholdRead(BaseModel):
    id: int
    household_no: str
    village_code: str
    village_name: str | None
    address: str
    phone: str | None
    attribute: str
    attribute_label: str
    main_cause: str
    main_cause_label: str
    other_causes: list[str]
    other_causes_labels: list[str]
    identified_year: int | None
    payout_account: PayoutAccountRead | None
    status: str
    status_label: str
    pending_action: PendingAction | None
    registered_year: int | None
    exit_year: int | None
    returned_year: int | None
    removed_year: int | None
    status_reason: str | None
    helper_user_id: str | None
    head_name: str
    member_count: int
    pii: str = Field(description='"full" or "masked": how personal data is shown to this caller')
    version: int
    created_at: datetime
    updated_at: datetime
    members: list[MemberRead]
    incomes: list[IncomeRead]
    assurances: list[AssuranceRead]
    monitoring_case: HouseholdCase | None = Field(description="the household's open 防返贫监测 case (any status "
                                                              "but eliminated or rejected), or null")


class HouseholdSummary(BaseModel):
    id: int
    household_no: str
    village_code: str
    village_name: str | None
    address: str
    phone: str | None
    head_name: str
    head_member_id: int | None
    head_id_number: str | None
    attribute: str
    attribute_label: str
    main_cause: str
    main_cause_label: str
    other_causes: list[str]
    identified_year: int | None
    status: str
    status_label: str
    pending_action: PendingAction | None
    helper_user_id: str | None
    member_count: int
    pii: str
    version: int


class PersonRef(BaseModel):
    household_id: int
    member_id: int


# --- internal: eligibility for funds ---------------------------------------------------------------------

class EligibilityQuery(BaseModel):
    household_ids: list[Annotated[int, Field(ge=1, le=JSON_INT_MAX)]] = Field(min_length=1, max_length=25_000)
    region_code: RegionCode


class EligibilityItem(BaseModel):
    household_id: int
    exists: bool
    eligible: bool
    reasons: list[str] = Field(description="not_found, outside_region, status_pending, status_removed")
    status: str | None = None
    status_label: str | None = None
    village_code: str | None = None
    in_region: bool = False
    household_no: str | None = None
    head_name: str | None = None
    head_id_number: str | None = None
    head_id_number_masked: str | None = None
    phone: str | None = None
    phone_masked: str | None = None
    payout_account_present: bool = False
    payout_account: dict[str, Any] | None = None


class EligibilityAnswer(BaseModel):
    items: list[EligibilityItem]
