from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from services.registry.poverty_lines import service
from services.registry.poverty_lines.schemas import PovertyLineIn, PovertyLineRead
from shared.auth import PrincipalDep, Role, require
from shared.db import SessionDep
from shared.etag import set_etag
from shared.pagination import Page
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/poverty-lines")

YearPath = Annotated[int, Path(ge=2000, le=2100)]


@router.put("/{year}", response_model=PovertyLineRead, dependencies=[require(Role.county_admin)],
            responses={201: {"model": PovertyLineRead, "description": "Created"},
                       **problem_responses(401, 403, 412, 422)},
            summary="Set a year's poverty line 设定贫困线")
async def put_line(year: YearPath, line_in: PovertyLineIn, session: SessionDep, principal: PrincipalDep,
                   response: Response, if_match: Annotated[str | None, Header(max_length=200)] = None
                   ) -> PovertyLineRead:
    """Yuan per person and year; an exit needs per-capita net income above the line of its year. 201 when the
    year had no line yet, 200 when it replaces one (``If-Match`` honoured)."""
    line, created = await service.put(session=session, actor=principal.sub, year=year, line_in=line_in,
                                      if_match=if_match)
    response.status_code = 201 if created else 200
    set_etag(response, line.version)
    return line


@router.get("", response_model=Page[PovertyLineRead], responses=problem_responses(401),
            summary="Poverty lines 贫困线")
async def list_lines(session: SessionDep, _: PrincipalDep) -> Page[PovertyLineRead]:
    return Page(items=await service.all_lines(session), next_cursor=None)
