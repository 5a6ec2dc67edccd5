from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from shared.auth import Role
from shared.http_types import Name, Phone
from shared.regions import RegionCode

Username = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=64,
                                            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
Password = Annotated[str, StringConstraints(max_length=256)]
StaffRole = Role  # the rules (may_create) refuse bank and service for people


class UserCreate(BaseModel):
    username: Username
    password: Password
    display_name: Name
    phone: Phone | None = None
    role: StaffRole
    region_code: RegionCode


class UserUpdate(BaseModel):
    display_name: Name | None = None
    phone: Phone | None = None
    password: Password | None = None
    active: bool | None = None


class UserRead(BaseModel):
    id: int
    username: str
    display_name: str
    phone: str | None
    role: str
    role_label: str
    region_code: str
    active: bool
    created_by: str
    created_at: datetime
    version: int


class MeRead(BaseModel):
    """The caller: a staff user (``id``, ``username``…), a partner bank (``bank_code``, ``client_id``) or a service."""

    sub: str
    role: str
    role_label: str | None
    region_code: str
    id: int | None = None
    username: str | None = None
    display_name: str | None = None
    phone: str | None = None
    bank_code: str | None = None
    client_id: str | None = None
    name: str | None = None
    token_expires_at: int
