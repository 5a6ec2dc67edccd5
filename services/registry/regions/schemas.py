from pydantic import BaseModel, Field

from shared.http_types import Name
from shared.regions import RegionCode

LEVEL_LABELS = {"province": "省", "city": "市", "county": "县", "township": "乡镇", "village": "村"}


class RegionCreate(BaseModel):
    code: RegionCode
    name: Name
    rural_population: int = Field(0, ge=0, le=2_000_000_000)


class RegionRead(BaseModel):
    code: str
    name: str
    level: str
    level_label: str
    parent_code: str | None
    rural_population: int
    version: int
