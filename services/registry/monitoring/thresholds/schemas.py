from datetime import datetime

from pydantic import BaseModel, Field

from shared.money import Money
from shared.regions import RegionCode


class ThresholdIn(BaseModel):
    region_code: RegionCode = Field(description="the province, city, county … the standard is set for; the most "
                                                "specific region covering a household wins")
    amount: Money = Field(description="监测标准: yuan of per-capita net income per year")


class ThresholdRead(BaseModel):
    year: int
    region_code: str
    amount: Money
    version: int
    updated_by: str
    updated_at: datetime
