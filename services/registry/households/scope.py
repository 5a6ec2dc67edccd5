"""Who sees which households, and how: region subtree as a range of village codes, helpers' own households,
full or masked personal data. Anything outside a caller's scope is answered exactly like a missing id."""

from __future__ import annotations

from dataclasses import dataclass

from shared import context, regions
from shared.auth import PII_ROLES, Principal, Role
from shared.problems import Forbidden, NotFound

# Who may do what (service tokens always may).
READERS = frozenset(Role) - {Role.bank}
CADRES = frozenset({Role.county_admin, Role.township_officer, Role.village_cadre})
OFFICERS = frozenset({Role.county_admin, Role.township_officer})
# Work a helper does for the households assigned to them.
HELPER_WORK = CADRES | {Role.helper}

NOT_FOUND_DETAIL = "No such household"


def household_not_found() -> NotFound:
    """The one answer for unknown ids and ids outside the caller's scope (never leaks existence)."""
    return NotFound(NOT_FOUND_DETAIL)


@dataclass(frozen=True)
class Scope:
    lo: str                   # village_code range of the caller's subtree
    hi: str
    helper: str | None        # a helper sees only the households assigned to them
    full_pii: bool            # every household in scope is shown in full (PII roles, services) or masked
    actor: str
    role: str

    @property
    def request_id(self) -> str | None:
        return context.request_id.get()

    def within(self, region_code: str) -> Scope | None:
        """This scope narrowed to ``region_code``'s subtree; None when they do not overlap."""
        lo, hi = bounds(region_code)
        lo, hi = max(lo, self.lo), min(hi, self.hi)
        if lo > hi:
            return None
        return Scope(lo=lo, hi=hi, helper=self.helper, full_pii=self.full_pii, actor=self.actor, role=self.role)

    def covers(self, village_code: str) -> bool:
        return self.lo <= village_code <= self.hi


def bounds(region_code: str) -> tuple[str, str]:
    p = regions.prefix(region_code)
    return p.ljust(12, "0"), p.ljust(12, "9")


def scope_of(principal: Principal, *, allowed: frozenset[Role] = READERS) -> Scope:
    """The caller's household scope; 403 when their role may not do this at all."""
    if not principal.is_service and principal.role not in allowed:
        raise Forbidden("Your role may not do this")
    if principal.is_service:
        lo, hi = "000000000000", "999999999999"
    else:
        lo, hi = bounds(principal.region)
    return Scope(lo=lo, hi=hi, helper=principal.sub if principal.role is Role.helper else None,
                 full_pii=principal.is_service or principal.role in PII_ROLES, actor=principal.sub,
                 role=principal.role.value)
