from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.registry.monitoring.reports.schemas import Reason
from services.registry.monitoring.screenings import rules


class WarningStatus(StrEnum):
    open = "open"
    case_opened = "case_opened"
    dismissed = "dismissed"


STATUS_LABELS = {"open": "待处理", "case_opened": "已立案", "dismissed": "已排除"}
RuleCode = StrEnum("RuleCode", {r.code: r.code for r in rules.RULES})
RULE_CODE_LABELS = dict(rules.LABELS)


class WarningRead(BaseModel):
    id: int
    household_id: int
    household_no: str
    head_name: str
    village_code: str
    rule: RuleCode = Field(description="the rule that fired (services/registry/monitoring/screenings/rules.py)")
    rule_label: str
    year: int = Field(description="the year of the department rows")
    figures: dict[str, Any] = Field(description="the figures that made it fire (money as yuan strings)")
    status: WarningStatus
    status_label: str
    case_id: int | None
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    version: int


class WarningDismiss(BaseModel):
    reason: Reason = Field(description="why the warning needs no case (kept in the audit chain)")


class ScreeningAccepted(BaseModel):
    job_id: str
    status: str = "queued"
