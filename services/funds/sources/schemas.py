from pydantic import BaseModel

from services.funds.glossary import FundLevel
from shared.http_types import Year, text


class FundSourceCreate(BaseModel):
    name: text(200, min_length=1)
    level: FundLevel
    doc_no: text(100, min_length=1)
    year: Year


class FundSourceRead(BaseModel):
    id: int
    name: str
    level: FundLevel
    level_label: str
    doc_no: str
    year: int
    region_code: str
    version: int
