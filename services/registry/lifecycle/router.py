from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.registry.deps import CadreScope, CipherDep, EndpointDep
from services.registry.households import service as households
from services.registry.households.schemas import HouseholdRead
from services.registry.lifecycle import service
from services.registry.lifecycle.schemas import TransitionIn
from shared.db import SessionDep
from shared.etag import check_if_match, etag
from shared.http_types import IdPath
from shared.problems import problem_responses
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1/households/{household_id}")


@router.post("/transitions", response_model=HouseholdRead,
             responses=problem_responses(401, 403, 404, 409, 412, 422, 503), summary="Change status 状态变更")
async def transition(household_id: IdPath, transition_in: TransitionIn, request: Request, session: SessionDep,
                     scope: CadreScope, cipher: CipherDep, endpoint: EndpointDep) -> JSONResponse:
    """``propose_registration`` and ``propose_exit`` open a 公示 notice in funds and show ``pending_action``
    until it closes; an exit needs, for ``year``, per-capita net income above that year's poverty line and all
    six assurances (409 listing what is ``unmet`` otherwise). ``mark_returned`` (返贫) and ``remove`` (清退)
    take effect at once, need a ``reason``, and are for county and township officers. An illegal move is 409."""
    household = await households.lock_visible(session, scope=scope, household_id=household_id)
    check_if_match(request, household["version"])
    await service.transition(session=session, scope=scope, cipher=cipher, services=request.app.state.services,
                             household=household, transition_in=transition_in)
    body = await households.view(session, scope=scope, cipher=cipher, household_id=household_id, endpoint=endpoint)
    return FastJSONResponse(body, headers={"ETag": etag(body["version"])})
