"""RFC 9457 problem details: one exception family, one set of handlers."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import i18n

log = logging.getLogger("jingzhun.problems")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://jingzhun.example/problems/"


class Problem(Exception):
    """Raise a subclass; the handler renders it as application/problem+json."""

    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"
    title_zh: str = "内部错误"

    def __init__(
        self,
        detail: str | None = None,
        *,
        slug: str | None = None,
        title: str | None = None,
        zh: str | None = None,
        title_zh: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        """``detail`` and ``title`` in English; ``zh``/``title_zh`` in Chinese (else the service's vocabulary
        translates ``detail``, see :mod:`shared.i18n`). The answer is in the request's language."""
        super().__init__(detail or self.title)
        self.detail = detail
        self.detail_zh = zh
        if slug:
            self.slug = slug
        if title:
            self.title = title
            self.title_zh = title_zh or i18n.message_zh(title) or type(self).title_zh
        elif title_zh:
            self.title_zh = title_zh
        self.errors = errors
        self.headers = headers
        self.extra = extra

    def body(self, lang: str | None = None) -> dict[str, Any]:
        """The problem as served, in ``lang`` (default: the request's, see :func:`shared.i18n.current`)."""
        if (lang or i18n.current()) == i18n.EN:
            title, detail, errors = self.title, self.detail or self.title, self._errors(i18n.EN)
        else:
            title = self.title_zh
            detail = self.detail_zh or (i18n.message_zh(self.detail) if self.detail else None) or self.detail \
                or title
            errors = self._errors(i18n.ZH)
        body: dict[str, Any] = {"type": TYPE_BASE + self.slug, "title": title, "status": self.status,
                                "detail": detail}
        if errors is not None:
            body["errors"] = errors
        body.update(self.extra)
        return body

    def _errors(self, lang: str) -> list[dict[str, Any]] | None:
        """Each error with its ``msg`` in ``lang`` and, when the service labels the field, ``field_label``."""
        if self.errors is None:
            return None
        out = []
        for e in self.errors:
            e = dict(e)
            raw = e.pop("_pydantic", None)
            if lang == i18n.ZH and isinstance(e.get("msg"), str):
                e["msg"] = i18n.pydantic_zh(raw) if raw is not None else i18n.message_zh(e["msg"]) or e["msg"]
            if isinstance(e.get("loc"), (list, tuple)) and "field_label" not in e \
                    and (label := i18n.field_label(e["loc"])) is not None:
                e["field_label"] = label
            out.append(e)
        return out


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Malformed request"
    title_zh = "请求格式不对"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"
    title_zh = "需要登录"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed"
    title_zh = "无权操作"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"
    title_zh = "没有找到"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"
    title_zh = "不支持该请求方法"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"
    title_zh = "与当前状态冲突"


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "Version mismatch"
    title_zh = "版本不一致"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Payload too large"
    title_zh = "请求内容过大"


class Unprocessable(Problem):
    status, slug, title = 422, "validation", "Invalid field"
    title_zh = "字段填写不正确"


class TooManyRequests(Problem):
    status, slug, title = 429, "rate-limited", "Too many requests"
    title_zh = "请求过于频繁"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "unavailable", "Service unavailable"
    title_zh = "服务暂不可用"


_BY_STATUS = {c.status: c for c in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                                     Conflict, PreconditionFailed, PayloadTooLarge, Unprocessable,
                                     TooManyRequests, ServiceUnavailable)}


def problem_for_status(status: int, detail: str | None = None) -> Problem:
    cls = _BY_STATUS.get(status)
    if cls is None:
        p = Problem(detail, slug=f"http-{status}", title=detail or "Error", title_zh="出错了")
        p.status = status
        return p
    return cls(detail)


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, headers=problem.headers,
                        media_type=PROBLEM_JSON)


def _clean_loc(loc: Any) -> list[Any]:
    return [p for p in loc if not isinstance(p, bytes)]


def validation_problem(exc: RequestValidationError) -> Problem:
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        return BadRequest("Request body is not valid JSON")
    errors = [{"loc": _clean_loc(e.get("loc", ())), "msg": str(e.get("msg", "")), "_pydantic": e} for e in errs]
    return Unprocessable("One or more fields are invalid", zh=_summary_zh(errors), errors=errors)


def _summary_zh(errors: list[dict[str, Any]], shown: int = 3) -> str:
    """``有字段填写不正确：身份证号：…；与户主关系：…`` — what a cadre reads first."""
    parts = []
    for e in errors[:shown]:
        label = i18n.field_label(e["loc"]) or next((str(p) for p in reversed(e["loc"]) if isinstance(p, str)), "")
        parts.append(f"{label}：{i18n.pydantic_zh(e['_pydantic'])}" if label else i18n.pydantic_zh(e["_pydantic"]))
    more = f"等 {len(errors)} 处" if len(errors) > shown else ""
    return "有字段填写不正确：" + "；".join(parts) + more


# connection exceptions, the server shutting down or starting up, too many connections: the database is away
_AWAY_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def database_away(exc: BaseException) -> Problem | None:
    """503 with Retry-After when ``exc`` (or what caused it) is the database being unreachable: a restart, a
    failover, a connection cut. The request changed nothing (its transaction did not commit); trying again
    shortly is right."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        code = getattr(e, "sqlstate", None) or ""
        if (isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated) \
                or isinstance(e, (asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError, ConnectionError,
                                  sa_exc.InterfaceError)) \
                or code.startswith(_AWAY_SQLSTATES):
            return ServiceUnavailable("The database is briefly unavailable; try again in a few seconds",
                                      slug="database-unavailable", headers={"Retry-After": "2"})
        e = getattr(e, "orig", None) or e.__cause__ or e.__context__
    return None


def _db_problem(exc: Exception) -> Problem | None:
    """For SQLAlchemy's errors and asyncpg's own (statements run on the driver connection)."""
    if (away := database_away(exc)) is not None:
        return away
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    if isinstance(exc, sa_exc.IntegrityError) or (code or "").startswith("23"):
        return Conflict("The change conflicts with existing data")
    if isinstance(exc, sa_exc.DataError) or (code or "").startswith("22"):
        return Unprocessable("A value is out of range or not allowed")
    if code in ("40001", "40P01"):
        return Conflict("A concurrent change interfered; retry", slug="concurrent-update")
    return None


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        p = problem_for_status(exc.status_code, exc.detail if isinstance(exc.detail, str) else None)
        if exc.headers:
            p.headers = dict(exc.headers)
        return problem_response(p)

    async def _db(request: Request, exc: Exception) -> JSONResponse:
        p = _db_problem(exc)
        return await _unexpected(request, exc) if p is None else problem_response(p)

    for kind in (sa_exc.DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(kind, _db)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(Problem("An unexpected error occurred; it has been logged"))


class ProblemBody(BaseModel):
    """RFC 9457. ``title``, ``detail`` and each ``errors[].msg`` are in Chinese unless ``Accept-Language`` prefers
    English (e.g. ``en``); ``errors[].field_label`` names the field in Chinese (身份证号) beside its ``loc``."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(None, description="For invalid fields: `loc`, `msg` and, where "
                                                "the service labels the field, `field_label`")


def problem_responses(*statuses: int, examples: dict[int, list[Problem]] | None = None
                      ) -> dict[int | str, dict[str, Any]]:
    """For ``responses=`` on routes: the problems a route may answer beyond the common ones
    (:data:`COMMON_STATUSES`, documented on every operation by :func:`document_problems`), and, in
    ``examples``, the problems a client will meet, rendered as the handlers render them."""
    examples = examples or {}
    out: dict[int | str, dict[str, Any]] = {}
    for s in dict.fromkeys((*statuses, *examples)):
        out[s] = {"model": ProblemBody, "description": _BY_STATUS[s].title if s in _BY_STATUS else "Error"}
        if examples.get(s):
            out[s]["content"] = {"application/json": {"examples": {
                p.slug if i == 0 or p.slug != examples[s][0].slug else f"{p.slug}-{i}":
                    {"summary": p.detail or p.title, "value": p.body(i18n.EN)} for i, p in enumerate(examples[s])}}}
    return out


# --- OpenAPI: what every operation may answer, as it is served ------------------------------------

# Malformed request (bad JSON, bad cursor, empty Idempotency-Key), no or bad token, outside role or region,
# unknown, invalid field, rate limited: any operation may answer these (CONTRACT §2).
COMMON_STATUSES = (400, 401, 403, 404, 422, 429)
PROBLEM_REF = "#/components/schemas/ProblemBody"
PROBLEM_SCHEMA = ProblemBody.model_json_schema()
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
_HTML = "text/html"
_FORM = "application/x-www-form-urlencoded"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def problem_doc(status: int, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response object: a problem of ``status``."""
    return {"description": description or (_BY_STATUS[status].title if status in _BY_STATUS else "Error"),
            "content": copy.deepcopy(_PROBLEM_CONTENT)}


def _has_idempotency_key(operation: dict[str, Any]) -> bool:
    return any(isinstance(p, dict) and p.get("in") == "header" and str(p.get("name", "")).lower() == "idempotency-key"
               for p in operation.get("parameters") or [])


def _is_page(operation: dict[str, Any]) -> bool:
    """An operation answering HTML (a public page): its "not found" is a page too."""
    ok = [r for code, r in (operation.get("responses") or {}).items() if str(code).startswith("2")]
    return bool(ok) and all(_HTML in (r.get("content") or {}) and len(r["content"]) == 1 for r in ok)


def _takes_html_forms(operation: dict[str, Any]) -> bool:
    """An operation taking JSON and also an HTML form post: a browser's form, answered with a page, whatever
    the outcome (a form-only body, as OAuth2's token request, is an API's and answers JSON)."""
    media = set(((operation.get("requestBody") or {}).get("content") or {}))
    return {"application/json", _FORM} <= media


def _document_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in list(responses.items()):
        if str(code)[:1] not in ("4", "5") or not isinstance(response, dict):
            continue
        content = response.get("content") or {}
        # what the problem handlers serve, whatever media type FastAPI gave the route's documented problems
        kept = {media: body for media, body in content.items()
                if media != "application/json" and (body or {}).get("schema", {}).get("$ref") != PROBLEM_REF}
        if len(kept) < len(content) or not content:
            shown = {k: v for body in content.values() for k, v in (body or {}).items() if k in ("example", "examples")}
            response["content"] = {**kept, PROBLEM_JSON: {**copy.deepcopy(_PROBLEM_CONTENT[PROBLEM_JSON]), **shown}}
    for status in COMMON_STATUSES:
        responses.setdefault(str(status), problem_doc(status))
    if _has_idempotency_key(operation):
        responses.setdefault("409", problem_doc(
            409, "Conflict: the Idempotency-Key was already used with another request, or is still being processed"))
    if _is_page(operation):
        responses["404"].setdefault("content", {})[_HTML] = {"schema": {"type": "string"}}
    if _takes_html_forms(operation):
        for response in responses.values():
            if isinstance(response, dict) and response.get("content"):
                response["content"].setdefault(_HTML, {"schema": {"type": "string"}})
    for code, response in responses.items():       # a problem documented without an example: the generic one
        body = ((response or {}).get("content") or {}).get(PROBLEM_JSON) if isinstance(response, dict) else None
        if body is not None and not body.get("examples") and "example" not in body and code in _GENERIC:
            p = _GENERIC[code](operation)
            body["examples"] = {p.slug: {"summary": p.detail, "value": p.body(i18n.EN)}}


# What any operation answers for these statuses, when its route documents nothing more particular.
_GENERIC: dict[str, Any] = {
    "400": lambda op: BadRequest("Request body is not valid JSON" if "requestBody" in op
                                 else "cursor is not one this API issued"),
    "401": lambda op: Unauthorized("Token is invalid or expired"),
    "403": lambda op: Forbidden("Your role may not do this"),
    "404": lambda op: NotFound("No such resource"),
    "409": lambda op: Conflict("Idempotency-Key was already used with another request", slug="idempotency-key-reused"),
    "412": lambda op: PreconditionFailed("resource is at version 3", current_version=3),
    "413": lambda op: PayloadTooLarge("body exceeds 25 MB"),
    "422": lambda op: Unprocessable("One or more fields are invalid", errors=[
        {"loc": ["body" if "requestBody" in op else "query", "limit" if "requestBody" not in op else "amount"],
         "msg": "Input should be less than or equal to 500" if "requestBody" not in op
         else "Value error, amount has more than two decimals"}]),
    "429": lambda op: TooManyRequests("Too many requests; try again in 30 s", headers={"Retry-After": "30"}),
    "503": lambda op: ServiceUnavailable("The database is briefly unavailable; try again in a few seconds",
                                         slug="database-unavailable"),
}


def _unused(spec: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    text = json.dumps({k: v for k, v in spec.items() if k != "components"}) + json.dumps(
        {k: v for k, v in (spec.get("components") or {}).get("schemas", {}).items() if k not in names})
    return [n for n in names if f'"#/components/schemas/{n}"' not in text]


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what the problem handlers serve: every 4xx/5xx answer is
    ``application/problem+json`` (``ProblemBody``); every operation documents :data:`COMMON_STATUSES`, those
    taking an ``Idempotency-Key`` also 409, HTML pages their 404 as a page, operations that take HTML forms
    every answer as a page too. FastAPI's own validation-error schemas, which the handlers never serve, are
    dropped. Idempotent; changes ``spec`` in place and returns it."""
    for item in (spec.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            if isinstance(item.get(method), dict):
                _document_operation(item[method])
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ProblemBody"] = copy.deepcopy(PROBLEM_SCHEMA)       # the same text in every service's document
    for name in _unused(spec, _FASTAPI_VALIDATION):
        schemas.pop(name, None)
    return spec
