"""A SQLModel base per service: its own metadata (with the naming convention and infrastructure tables)."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import tables


def service_base(name: str) -> type[SQLModel]:
    reg = registry(metadata=MetaData(naming_convention=tables.NAMING))
    tables.include_in(reg.metadata)
    base = type(f"{name.title()}Base", (SQLModel,), {}, registry=reg)
    return base
