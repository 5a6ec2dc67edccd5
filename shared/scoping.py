"""What a caller may read, as one WHERE clause per rule, for repositories to add to their statements (as Polar's
``get_readable_statement``): region checks live here, not in each service function."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, true

from shared import regions
from shared.auth import Principal, Role


def subtree(column: Any, principal: Principal) -> ColumnElement[bool]:
    """Rows whose region lies in the caller's region (itself included); a service reads every row."""
    if principal.is_service:
        return true()
    try:
        return column.startswith(regions.prefix(principal.region))
    except ValueError:
        return false()


def subtree_or_above(column: Any, principal: Principal) -> ColumnElement[bool]:
    """Rows in the caller's region or in a region above it (a township officer reads the county's batches)."""
    if principal.is_service:
        return true()
    try:
        return or_(column.startswith(regions.prefix(principal.region)),
                   column.in_(regions.ancestors(principal.region)))
    except ValueError:
        return false()


def is_bank(principal: Principal) -> bool:
    """A partner bank's token (its role, or the bank it names)."""
    return principal.role is Role.bank or principal.bank is not None


def own_bank(column: Any, principal: Principal) -> ColumnElement[bool]:
    """Rows of the caller's own bank (``bank_code`` as its token names it)."""
    return column == (principal.bank or "")


def own_bank_or_subtree(bank_column: Any, region_column: Any, principal: Principal) -> ColumnElement[bool]:
    """A partner bank reads its own bank's rows, wherever they are; anyone else the rows of its subtree."""
    if is_bank(principal):
        return own_bank(bank_column, principal)
    return subtree(region_column, principal)
