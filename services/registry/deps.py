"""Dependencies the registry's routers share: the PII cipher and the caller's household scope per kind of work."""

from typing import Annotated

from fastapi import Depends, Request

from services.registry.households.scope import (
    CADRES,
    HELPER_WORK,
    OFFICERS,
    READERS,
    Scope,
    scope_of,
)
from shared import pii
from shared.auth import PrincipalDep


async def get_cipher(request: Request) -> pii.PiiCipher:
    return pii.cipher(request.app.state.settings)


def _scope(allowed):
    async def dep(principal: PrincipalDep) -> Scope:
        return scope_of(principal, allowed=allowed)
    return dep


async def endpoint(request: Request) -> str:
    """What the PII access log records as the endpoint: method and path."""
    return f"{request.method} {request.url.path}"


CipherDep = Annotated[pii.PiiCipher, Depends(get_cipher)]
ReaderScope = Annotated[Scope, Depends(_scope(READERS))]          # everyone but banks; helpers: their own
CadreScope = Annotated[Scope, Depends(_scope(CADRES))]            # county, township, village cadres
OfficerScope = Annotated[Scope, Depends(_scope(OFFICERS))]        # county admin and township officers
HelperWorkScope = Annotated[Scope, Depends(_scope(HELPER_WORK))]  # cadres, and a helper for their households
EndpointDep = Annotated[str, Depends(endpoint)]
