import uuid
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from services.registry.glossary import Batch
from shared.http_types import JSON_INT_MAX, LongText, Year, text
from shared.money import Money


class IncomeIn(BaseModel):
    """A year's household income in yuan (Money strings): 工资性, 生产经营性, 转移性, 财产性收入 and 生产经营性支出."""

    wage: Money
    production: Money
    transfer: Money
    property: Money
    expenses: Money


class AssuranceIn(BaseModel):
    """两不愁三保障: 不愁吃, 不愁穿, 义务教育, 基本医疗, 住房安全, 饮水安全."""

    food: bool
    clothing: bool
    education: bool
    medical: bool
    housing: bool
    water: bool


class HelperIn(BaseModel):
    user_id: int | None = Field(..., ge=1, le=JSON_INT_MAX, description="a gateway user with role helper; null unassigns")


class MeasureIn(BaseModel):
    batch: Batch
    kind: text(64, min_length=1)
    description: LongText = ""
    year: Year


class MeasureRead(BaseModel):
    id: int
    household_id: int
    batch: str
    batch_label: str
    kind: str
    description: str
    year: int
    created_by: str
    created_at: datetime


EARLIEST_VISIT = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)


class VisitIn(BaseModel):
    client_id: uuid.UUID = Field(description="made by the app when the visit is recorded; a retried upload reuses it")
    visited_at: AwareDatetime = Field(description="RFC 3339 with offset; not in the future")
    notes: LongText = ""

    @field_validator("visited_at")
    @classmethod
    def plausible(cls, value: datetime) -> datetime:
        if value.year < 2000 or value < EARLIEST_VISIT:
            raise ValueError("visited_at is before 2000")
        if value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("visited_at is in the future")
        return value


class VisitRead(BaseModel):
    id: int
    household_id: int
    client_id: uuid.UUID
    visited_at: datetime
    notes: str
    visitor: str
    created_at: datetime
