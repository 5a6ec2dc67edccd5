"""Who reads and who decides monitoring intake (self-reports, screening warnings): the cadres read in full,
finance officers and auditors read with ID numbers and phones masked; county admins and township officers import
screenings and dismiss. Outside the caller's region: 404."""

from typing import Annotated

from fastapi import Depends

from services.registry.households.scope import CADRES, OFFICERS, Scope, scope_of
from shared.auth import PrincipalDep, Role

READERS = CADRES | {Role.finance_officer, Role.auditor}


async def _readers(principal: PrincipalDep) -> Scope:
    return scope_of(principal, allowed=READERS)


async def _officers(principal: PrincipalDep) -> Scope:
    return scope_of(principal, allowed=OFFICERS)


MonitoringReaderScope = Annotated[Scope, Depends(_readers)]
MonitoringOfficerScope = Annotated[Scope, Depends(_officers)]
