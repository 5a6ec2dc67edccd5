from datetime import datetime

from pydantic import BaseModel

from shared.money import Money


class PovertyLineIn(BaseModel):
    amount: Money


class PovertyLineRead(BaseModel):
    year: int
    amount: Money
    version: int
    updated_by: str
    updated_at: datetime
