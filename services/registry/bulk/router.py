"""Bulk routes: upload an import (→ a job), poll a job, export a region's households as .xlsx."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from services.registry.bulk import export, jobs
from services.registry.bulk.reader import FileRejected, kind_of
from services.registry.deps import CadreScope, CipherDep, EndpointDep, ReaderScope
from shared import i18n, regions
from shared.auth import PrincipalDep
from shared.db import SessionDep
from shared.problems import Forbidden, NotFound, PayloadTooLarge, Unprocessable, problem_responses
from shared.regions import RegionCode
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1")

MAX_UPLOAD = 20 * 1024 * 1024
_MULTIPART_SLACK = 64 * 1024


def _bad_file(msg: str) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", "file"], "msg": msg}])


async def read_upload(request: Request) -> tuple[str, bytes]:
    """The uploaded file, reading at most MAX_UPLOAD bytes of it (413 beyond, before it is all received)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD + _MULTIPART_SLACK:
        raise PayloadTooLarge(f"files up to {MAX_UPLOAD // 2**20} MB can be imported")
    received = 0
    original = request._receive

    async def limited() -> dict[str, Any]:
        nonlocal received
        message = await original()
        if message.get("type") == "http.request":
            received += len(message.get("body", b""))
            if received > MAX_UPLOAD + _MULTIPART_SLACK:
                raise PayloadTooLarge(f"files up to {MAX_UPLOAD // 2**20} MB can be imported")
        return message

    request._receive = limited
    async with request.form(max_files=1, max_fields=10, max_part_size=64 * 1024) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _bad_file('send the table as the multipart field "file" (.xlsx or .csv)')
        content = await upload.read(MAX_UPLOAD + 1)
        filename = (upload.filename or "upload")[-200:]
    if len(content) > MAX_UPLOAD:
        raise PayloadTooLarge(f"files up to {MAX_UPLOAD // 2**20} MB can be imported")
    if not content:
        raise _bad_file("the file is empty")
    try:
        kind_of(filename, content[:4])
    except FileRejected as exc:
        raise _bad_file(str(exc)) from None
    return filename.replace("\x00", ""), content


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "the table: .xlsx or .csv (UTF-8 or GB18030), one row per member"}}}}}}}


@router.post("/imports/households", status_code=202, openapi_extra=UPLOAD_BODY,
             responses=problem_responses(400, 401, 403, 413, 422), summary="Import households 批量导入")
async def import_households(request: Request, session: SessionDep, scope: CadreScope,
                            principal: PrincipalDep) -> JSONResponse:
    """One row per member, the columns of CONTRACT §9 (户编号 groups rows into households; cells take the Chinese
    label or the code). Up to 20 MB and 500,000 rows. Answers 202 with a ``job_id`` to poll at
    ``GET /api/v1/jobs/{job_id}``; rows with errors are reported there and the rest are imported. Importing the
    same file again creates nothing new. New households are ``pending`` (识别中)."""
    if principal.is_service:
        raise Forbidden("imports are made by people, in their own region")
    filename, content = await read_upload(request)
    job_id = await jobs.create(session, scope=scope, region_code=principal.region, filename=filename,
                               content=content)
    return FastJSONResponse({"job_id": str(job_id), "status": "queued"}, status_code=202,
                            headers={"Location": f"/api/v1/jobs/{job_id}"})


@router.get("/jobs/{job_id}", responses=problem_responses(401, 403, 404, 422), summary="A background job 任务进度")
async def get_job(job_id: uuid.UUID, session: SessionDep, scope: ReaderScope, principal: PrincipalDep
                  ) -> JSONResponse:
    """``status`` (queued, running, done, failed), ``total`` and ``done`` rows, the row ``errors``
    (``[{row, field, msg}]``, ``sheet`` too for .xlsx; the first 1,000, ``errors_total`` counts all) and, when
    done, a ``summary`` of what was created or matched. Visible in the uploader's region."""
    job = await jobs.get(session, job_id)
    if job is None or not principal.covers(job["region_code"].strip()) or (
            scope.helper is not None and job["created_by"] != scope.actor):
        raise NotFound("No such job")
    return FastJSONResponse(jobs.body(job, i18n.localized))


@router.get("/exports/households.xlsx", responses={
    200: {"content": {export.MEDIA_TYPE: {}}, "description": "the workbook"}, **problem_responses(401, 403, 404, 422)},
    summary="Export households 村有册导出 (.xlsx)")
async def export_households(session: SessionDep, scope: ReaderScope, cipher: CipherDep, endpoint: EndpointDep,
                            region: Annotated[RegionCode | None, Query(description="default: your region")] = None
                            ) -> Response:
    """One sheet per village with the §9 columns and 状态. ID numbers and phones are in full for county,
    township and village cadres (recorded in the personal-data access log), masked for everyone else; a
    helper gets the households assigned to them."""
    code = region or _scope_region(scope)
    content, region_name = await export.for_region(session, scope=scope, code=code, cipher=cipher, endpoint=endpoint)
    name = f"households-{code}.xlsx"
    return Response(content, media_type=export.MEDIA_TYPE, headers={
        "Content-Disposition": f"attachment; filename={name}; filename*=UTF-8''{quote(region_name)}-{name}"})


def _scope_region(scope) -> str:
    code = scope.lo
    try:
        regions.validate(code)
        return code
    except ValueError:      # a service token's whole-country scope: no single region
        raise Unprocessable("region is required", errors=[{"loc": ["query", "region"], "msg": "required"}]) from None

