"""Who is calling: the Principal from a verified access token, roles, region scope, revocation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from shared import context, regions
from shared.jwt import InvalidToken, Verifier
from shared.problems import Forbidden, ServiceUnavailable, Unauthorized

log = logging.getLogger("jingzhun.auth")

TOKEN_URL = "/api/v1/auth/token"
REVOKED_PREFIX = "jz:revoked:"


class Role(StrEnum):
    county_admin = "county_admin"
    township_officer = "township_officer"
    village_cadre = "village_cadre"
    helper = "helper"
    finance_officer = "finance_officer"
    auditor = "auditor"
    bank = "bank"
    service = "service"          # service-to-service calls; never given to a person


ROLE_LABELS = {
    Role.county_admin: "县级管理员", Role.township_officer: "乡镇干部", Role.village_cadre: "村干部",
    Role.helper: "帮扶责任人", Role.finance_officer: "财务人员", Role.auditor: "审计人员", Role.bank: "合作银行",
}

# Who may create whom: a strictly lower rank; county_admin may also create county_admin.
RANK = {Role.county_admin: 100, Role.finance_officer: 80, Role.auditor: 80, Role.township_officer: 60,
        Role.village_cadre: 40, Role.helper: 20, Role.bank: 0}

PII_ROLES = frozenset({Role.county_admin, Role.township_officer, Role.village_cadre})


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    region: str
    jti: str
    exp: int
    bank: str | None = None

    @property
    def is_service(self) -> bool:
        return self.role is Role.service

    def covers(self, region_code: str) -> bool:
        """True when ``region_code`` is inside this principal's region subtree."""
        if self.is_service:
            return True
        try:
            return regions.covers(self.region, region_code)
        except ValueError:
            return False

    def sees_pii(self, region_code: str) -> bool:
        return (self.role in PII_ROLES and self.covers(region_code)) or self.is_service

    def may_create(self, role: Role, region_code: str) -> bool:
        if role in (Role.service, Role.bank) or not self.covers(region_code):
            return False
        if self.role is Role.county_admin and role is Role.county_admin:
            return regions.level_of(region_code) == "county" and region_code == self.region
        return RANK.get(role, 999) < RANK.get(self.role, -1)


def principal_from_claims(claims: dict) -> Principal:
    try:
        role = Role(claims["role"])
        region = claims.get("region") or ""
        if role is not Role.service:
            regions.validate(region)
        return Principal(sub=str(claims["sub"]), role=role, region=region, jti=str(claims["jti"]),
                         exp=int(claims["exp"]), bank=claims.get("bank"))
    except (KeyError, ValueError, TypeError):
        raise InvalidToken("token claims are incomplete") from None


oauth2 = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def is_revoked(request: Request, jti: str) -> bool:
    redis = getattr(request.app.state, "redis", None)
    if redis is None:
        raise ServiceUnavailable("revocation list unavailable")
    try:
        return bool(await redis.exists(REVOKED_PREFIX + jti))
    except Exception as exc:
        log.warning("revocation check failed: %s", exc)
        fallback = getattr(request.app.state, "revocation_fallback", None)
        if fallback is None:
            raise ServiceUnavailable("revocation list unavailable") from None
        return await fallback(jti)


async def verify_bearer(request: Request, token: str | None) -> Principal:
    """The Principal of a bearer token: signature and claims (cached by the verifier), then revocation."""
    if not token:
        raise Unauthorized("Bearer token required")
    verifier: Verifier = request.app.state.verifier
    try:
        principal = principal_from_claims(verifier.verify(token))
    except InvalidToken:
        raise Unauthorized("Token is invalid or expired") from None
    if await is_revoked(request, principal.jti):
        raise Unauthorized("Token has been revoked")
    context.bearer_token.set(token)
    request.state.principal = principal
    return principal


async def authenticate(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    return await verify_bearer(request, token)


async def authenticate_request(request: Request) -> Principal:
    """``authenticate`` for a one-level dependency on a hot path: the token read here rather than by a
    dependency of its own, so the route declares its security with ``openapi_extra=BEARER``."""
    return await verify_bearer(request, await oauth2(request))


# What ``Depends(oauth2)`` puts in an operation's OpenAPI, for routes that call ``authenticate_request``.
BEARER = {"security": [{oauth2.scheme_name: []}]}


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require(*roles: Role):
    """Dependency: the caller must hold one of ``roles`` (service tokens always pass)."""
    allowed = frozenset(roles)

    async def dep(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed and not principal.is_service:
            raise Forbidden("Your role may not do this")
        return principal

    return Depends(dep)


def require_service():
    async def dep(principal: PrincipalDep) -> Principal:
        if not principal.is_service:
            raise Forbidden("internal endpoint")
        return principal

    return Depends(dep)
