"""Dependencies the registry's routers share: the PII cipher and the caller's household scope per kind of work."""

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import URL

from services.registry.households.scope import (
    CADRES,
    HELPER_WORK,
    OFFICERS,
    READERS,
    Scope,
    scope_of,
)
from shared import pii
from shared.auth import PrincipalDep, authenticate_request, principal_for


def cipher_of(request: Request) -> pii.PiiCipher:
    return cipher_in(request.app.state)


def cipher_in(state) -> pii.PiiCipher:
    """The deployment's PII cipher, kept on the app once looked up."""
    try:
        return state.pii_cipher
    except AttributeError:
        state.pii_cipher = pii.cipher(state.settings)
        return state.pii_cipher


async def get_cipher(request: Request) -> pii.PiiCipher:
    return cipher_of(request)


def _scope(allowed):
    async def dep(principal: PrincipalDep) -> Scope:
        return scope_of(principal, allowed=allowed)
    return dep


async def _reader_scope(request: Request) -> Scope:
    return scope_of(await authenticate_request(request), allowed=READERS)


async def reader_scope_for(state, token: str | None) -> Scope:
    """``_reader_scope`` for the pure-ASGI household read: the same principal and scope rules."""
    return scope_of(await principal_for(state, token), allowed=READERS)


def endpoint_of(request: Request) -> str:
    return endpoint_in(request.scope)


def endpoint_in(scope) -> str:
    """What the PII access log records as the endpoint: method and path (as ``request.url.path`` spells it)."""
    path = scope["path"]
    if not path.isprintable() or "?" in path or "#" in path or "\\" in path:
        path = URL(scope=scope).path
    return f"{scope['method']} {path}"


async def endpoint(request: Request) -> str:
    return endpoint_of(request)


CipherDep = Annotated[pii.PiiCipher, Depends(get_cipher)]
ReaderScope = Annotated[Scope, Depends(_scope(READERS))]          # everyone but banks; helpers: their own
CadreScope = Annotated[Scope, Depends(_scope(CADRES))]            # county, township, village cadres
OfficerScope = Annotated[Scope, Depends(_scope(OFFICERS))]        # county admin and township officers
HelperWorkScope = Annotated[Scope, Depends(_scope(HELPER_WORK))]  # cadres, and a helper for their households
EndpointDep = Annotated[str, Depends(endpoint)]
# ReaderScope as one dependency (no nested principal and token dependencies) for the household read, the hot
# path; its route declares the bearer security itself (``openapi_extra=auth.BEARER``).
ReaderScopeHot = Annotated[Scope, Depends(_reader_scope)]
