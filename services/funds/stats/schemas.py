from pydantic import BaseModel, Field

from services.funds.glossary import Purpose
from shared.money import Money


class Figures(BaseModel):
    allocations: int = Field(description="how many allocations")
    allocated: Money = Field(description="what they hold now (available + committed + spent) 下达")
    committed: Money = Field(description="committed to batches and projects, not yet paid 已安排")
    spent: Money = Field(description="paid out 已支出")
    available: Money = Field(description="not yet committed 结余")
    idle: Money = Field(description="available money idle longer than JINGZHUN_IDLE_DAYS 滞留滞拨")
    idle_allocations: int = Field(description="allocations whose money is idle")


class PurposeFigures(Figures):
    purpose: Purpose
    purpose_label: str


class FundStats(BaseModel):
    region_code: str
    year: int | None = Field(description="allocations of this year only; null: every year")
    idle_days: int = Field(description="the JINGZHUN_IDLE_DAYS the idle money is counted with")
    total: Figures
    purposes: list[PurposeFigures] = Field(description="every purpose, in the glossary's order (zeros included)")
