from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from shared.http_types import Name
from shared.regions import RegionCode

BankCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=32,
                                            pattern=r"^[A-Za-z0-9_-]+$")]


class BankClientCreate(BaseModel):
    name: Name
    bank_code: BankCode
    region_code: RegionCode


class BankClientRead(BaseModel):
    id: int
    client_id: str
    name: str
    bank_code: str
    region_code: str
    active: bool
    created_at: datetime


class BankClientCreated(BankClientRead):
    client_secret: str
