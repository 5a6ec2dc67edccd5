"""A SQLModel base per service: its own metadata (with the naming convention and infrastructure tables)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import tables


def service_base(name: str) -> type[SQLModel]:
    reg = registry(metadata=MetaData(naming_convention=tables.NAMING))
    tables.include_in(reg.metadata)
    base = type(f"{name.title()}Base", (SQLModel,), {}, registry=reg)
    return base


def sql_in(enum: type[StrEnum]) -> str:
    """``'a', 'b', …`` of an enum's codes, for CHECK constraints."""
    return ", ".join(f"'{m.value}'" for m in enum)
