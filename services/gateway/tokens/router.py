import base64
import logging
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from services.gateway.banks import service as banks
from services.gateway.tokens import revocation, service
from services.gateway.tokens.ratelimit import LoginLimiter
from services.gateway.tokens.schemas import Revocation, TokenResponse
from services.gateway.users import service as users
from services.gateway.users.models import User
from services.gateway.users.schemas import MeRead
from shared.auth import ROLE_LABELS, PrincipalDep, Role, require_service
from shared.db import SessionDep
from shared.problems import BadRequest, TooManyRequests, Unauthorized, problem_responses

log = logging.getLogger("jingzhun.gateway.tokens")
router = APIRouter()

FormText = Annotated[str | None, Form(max_length=256)]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        client_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest("Malformed Basic credentials", error="invalid_request") from None
    return (client_id, secret) if sep else None


_FORM_EXAMPLES = {
    "client_credentials": {"summary": "A partner bank (农商行) signs in with its client id and secret",
                           "value": {"grant_type": "client_credentials", "client_id": "bank-nsh-7f3a9c",
                                     "client_secret": "s3cr3t-shown-once-at-creation"}},
    "password": {"summary": "Staff sign in (the app, /docs' Authorize)",
                 "value": {"grant_type": "password", "username": "wang.cadre", "password": "correct horse"}},
    "refresh_token": {"summary": "A fresh access token; each refresh token works once",
                      "value": {"grant_type": "refresh_token", "refresh_token": "rt_8Q2v…"}},
}
_TOKEN_EXAMPLE = {"access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ims…", "token_type": "bearer", "expires_in": 900,
                  "refresh_token": "rt_8Q2v…"}
_TOKEN_PROBLEMS = problem_responses(examples={
    400: [BadRequest("client_id and client_secret are required", error="invalid_request"),
          BadRequest("grant_type 'implicit' is not supported", error="unsupported_grant_type")],
    401: [service.InvalidGrant("Unknown client or wrong secret", error="invalid_client"),
          service.InvalidGrant("Refresh token has expired")],
    429: [TooManyRequests("Too many failed sign-in attempts; try again in 60 seconds", retry_after=60)],
})


@router.post("/api/v1/auth/token", response_model=TokenResponse, responses={
                 200: {"content": {"application/json": {"example": _TOKEN_EXAMPLE}}}, **_TOKEN_PROBLEMS},
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {
                 "examples": _FORM_EXAMPLES}}}},
             summary="Get a token 登录/换取令牌")
async def token(request: Request, response: Response, session: SessionDep,
                grant_type: Annotated[str | None, Form(max_length=64)] = None, username: FormText = None,
                password: FormText = None, client_id: FormText = None, client_secret: FormText = None,
                refresh_token: FormText = None, scope: Annotated[str | None, Form(max_length=512)] = None
                ) -> TokenResponse:
    """OAuth2 token endpoint (form-encoded): ``grant_type`` = ``password`` (staff: ``username``, ``password``),
    ``client_credentials`` (partner banks: ``client_id``, ``client_secret``, also as HTTP Basic) or
    ``refresh_token`` (``refresh_token``; each refresh token works once)."""
    state = request.app.state
    response.headers.update(NO_STORE)
    ip = request.client.host if request.client else None
    limiter: LoginLimiter = state.login_limiter
    if grant_type == "password":
        if not username or password is None:
            raise BadRequest("username and password are required", error="invalid_request")
        buckets = limiter.buckets(account=f"user:{username.strip().lower()}", ip=ip)
        await limiter.check(buckets)
        try:
            user = await service.password_user(session=session, username=username, password=password)
        except service.InvalidGrant:
            await limiter.failed(buckets)
            raise
        await limiter.succeeded(buckets[0])
        return await service.issue(session=session, signer=state.signer, settings=state.settings, kind="user",
                                   claims=service.claims_for_user(user))
    if grant_type == "client_credentials":
        if basic := _basic_credentials(request):
            client_id, client_secret = client_id or basic[0], client_secret or basic[1]
        if not client_id or client_secret is None:
            raise BadRequest("client_id and client_secret are required", error="invalid_request")
        buckets = limiter.buckets(account=f"client:{client_id}", ip=ip)
        await limiter.check(buckets)
        try:
            client = await service.bank_client(session=session, client_id=client_id, client_secret=client_secret)
        except service.InvalidGrant:
            await limiter.failed(buckets)
            raise
        await limiter.succeeded(buckets[0])
        return await service.issue(session=session, signer=state.signer, settings=state.settings, kind="client",
                                   claims=service.claims_for_client(client))
    if grant_type == "refresh_token":
        if not refresh_token:
            raise BadRequest("refresh_token is required", error="invalid_request")
        try:
            return await service.refresh(session=session, signer=state.signer, settings=state.settings,
                                         token=refresh_token)
        except service.FamilyRevoked as exc:
            await session.commit()              # the revocation must outlive this 401
            log.warning("refresh token replayed (family %s, from %s): the family is revoked", exc.family, ip)
            await state.revocations.push(exc.revoked_access)
            raise service.InvalidGrant("Refresh token was already used; every session it belongs to is revoked"
                                       ) from None
    if not grant_type:
        raise BadRequest("grant_type is required", error="invalid_request")
    raise BadRequest(f"grant_type {grant_type!r} is not supported", error="unsupported_grant_type")


@router.get("/api/v1/auth/me", response_model=MeRead, responses=problem_responses(401), summary="Who am I 当前用户")
async def me(principal: PrincipalDep, session: SessionDep) -> MeRead:
    out: dict[str, Any] = dict(sub=principal.sub, role=principal.role.value,
                               role_label=ROLE_LABELS.get(principal.role), region_code=principal.region,
                               token_expires_at=principal.exp)
    if principal.role is Role.bank:
        client = await banks.by_client_id(session, principal.sub)
        out.update(bank_code=principal.bank, client_id=principal.sub, name=client.name if client else None)
    elif principal.sub.isdigit():
        user = await session.get(User, int(principal.sub))
        if user is not None:
            if not user.active:
                raise Unauthorized("The account is no longer active")
            read = users.to_read(user)
            out.update(id=read.id, username=read.username, display_name=read.display_name, phone=read.phone)
    return MeRead(**out)


@router.post("/api/v1/auth/logout", status_code=204, responses=problem_responses(401), summary="Sign out 退出登录")
async def logout(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """Revokes this access token (everywhere, at once) and the refresh token issued with it."""
    revoked = await service.logout(session=session, principal=principal)
    await session.commit()
    await request.app.state.revocations.push(revoked)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", summary="Public signing keys (JWKS)")
async def jwks(request: Request) -> dict[str, Any]:
    return request.app.state.keys.jwks()


internal_router = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[require_service()])


@internal_router.get("/revocations/{jti}", response_model=Revocation)
async def revocation_status(jti: str, session: SessionDep) -> Revocation:
    return Revocation(revoked=await revocation.is_revoked(session, jti[:64]))
