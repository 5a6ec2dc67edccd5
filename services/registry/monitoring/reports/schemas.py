from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from shared import regions
from shared.http_types import Name, Phone, text
from shared.idnumber import IdNumber


class ReportStatus(StrEnum):
    open = "open"
    accepted = "accepted"
    dismissed = "dismissed"


STATUS_LABELS = {"open": "待处理", "accepted": "已受理（已立案）", "dismissed": "不予受理"}


def _village(code: str) -> str:
    regions.validate(code)
    if regions.level_of(code) != "village":
        raise ValueError("a village code (12 digits, the last three not 000)")
    return code


VillageCode = Annotated[str, AfterValidator(_village)]
Description = text(2000, min_length=1, multiline=True)
Reason = text(500, min_length=1, multiline=True)


class ReportIn(BaseModel):
    """一码申报: what a villager types on the public page."""

    name: Name = Field(description="姓名")
    id_number: IdNumber = Field(description="身份证号 (GB 11643, 18 characters)")
    phone: Phone = Field(description="联系电话 (mobile)")
    village_code: VillageCode = Field(description="所在村 (12-digit village code)")
    description: Description = Field(description="困难情况")


class ReportAck(BaseModel):
    """The same answer whatever was sent: nothing of the report is echoed."""

    received: bool = True
    reference: str = Field(description="an opaque receipt number to quote when asking about the report")


class DismissIn(BaseModel):
    reason: Reason = Field(description="why it is dismissed (kept in the audit chain)")


class ReportRead(BaseModel):
    id: int
    reference: str
    village_code: str
    name: str
    id_number: str = Field(description="masked unless your role may see personal data")
    phone: str = Field(description="masked unless your role may see personal data")
    description: str
    household_id: int | None = Field(description="the registry household of the person, if they are in it")
    status: ReportStatus
    status_label: str
    overdue: bool = Field(description="open for more than 2 days")
    case_id: int | None
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    version: int
