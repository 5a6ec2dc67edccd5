from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from services.registry.monitoring.cases.glossary import CaseAction, CaseStatus, Category, Phase, RiskType, Source
from shared.http_types import JSON_INT_MAX, Year, text


class CaseCreate(BaseModel):
    """A household reported for 防返贫监测. ``category`` must fit the household's status: ``unstable`` an exited
    household, ``marginal`` an ordinary one (一般农户), ``sudden`` any but registered, returned or removed."""

    household_id: int = Field(ge=1, le=JSON_INT_MAX)
    category: Category
    risk_types: list[RiskType] = Field(min_length=1, max_length=len(RiskType), description="风险类型, one or more")
    source: Source
    description: text(2000, multiline=True) = ""
    year: Year = Field(description="the year whose income and assurances the case is judged on")
    report_id: int | None = Field(None, ge=1, le=JSON_INT_MAX, description="the 一码申报 report this case accepts "
                                  "(source self_report; the report becomes accepted)")
    warning_id: int | None = Field(None, ge=1, le=JSON_INT_MAX, description="the screening warning this case is "
                                   "opened from (source screening; the warning becomes case_opened)")

    @model_validator(mode="after")
    def _origin_fits_source(self) -> "CaseCreate":
        if self.report_id is not None and self.warning_id is not None:
            raise ValueError("a case comes from one report or one warning, not both")
        if self.report_id is not None and self.source is not Source.self_report:
            raise ValueError("a case opened from a report has source self_report")
        if self.warning_id is not None and self.source is not Source.screening:
            raise ValueError("a case opened from a warning has source screening")
        return self

    @field_validator("risk_types")
    @classmethod
    def _distinct(cls, value: list[RiskType]) -> list[RiskType]:
        if len(set(value)) != len(value):
            raise ValueError("each risk type at most once")
        return value


class CaseTransitionIn(BaseModel):
    """``verify`` (reported → verified: that year's income and assurances recorded), ``publicize`` (verified →
    publicized: a 公示 of ``days`` days), ``approve`` (publicized → approved once the 公示 closed with no upheld
    objection; during the elimination 公示: → eliminated), ``propose_elimination`` (approved → publicized for
    风险消除, when every condition holds), ``reject`` (any open status → rejected; needs ``notes``)."""

    action: CaseAction
    notes: text(1000, multiline=True) | None = None
    days: int | None = Field(None, ge=0, le=90, description="the 公示 period for publicize and propose_elimination; "
                                                           "at least JINGZHUN_NOTICE_MIN_DAYS, which is the default")
    year: Year | None = Field(None, description="propose_elimination: the year whose income and assurances count "
                                                "(default: the case's year)")


class CaseStep(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    action_label: str
    from_status: CaseStatus | None
    to_status: CaseStatus
    notes: str
    notice_id: int | None
    detail: dict[str, Any] = Field(description="what the step carried: the upheld objections of a closed 公示, "
                                               "the 公示 period…")


class CaseSummary(BaseModel):
    id: int
    case_no: str
    household_id: int
    household_no: str
    head_name: str
    village_code: str
    village_name: str | None
    category: Category
    category_label: str
    risk_types: list[RiskType]
    risk_type_labels: list[str]
    source: Source
    source_label: str
    description: str
    year: int
    status: CaseStatus
    status_label: str
    phase: Phase = Field(description="what the current (or last) 公示 is for: inclusion 纳入监测 or elimination 风险消除")
    phase_label: str
    notice_id: int | None = Field(description="the 公示 the case waits for; null when none is open")
    reported_by: str
    reported_at: datetime
    verified_at: datetime | None
    approved_at: datetime | None = Field(description="监测对象 since")
    closed_at: datetime | None
    version: int


class CaseRead(CaseSummary):
    history: list[CaseStep] = Field(description="every step, oldest first; never deleted")


class HouseholdCase(BaseModel):
    """The household's open case, as the household view shows it."""

    id: int
    case_no: str
    status: CaseStatus
    category: Category
