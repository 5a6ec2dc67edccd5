"""Bodies of the public pages' posts: JSON from an app, or an HTML form from a phone's browser (no script)."""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import Request
from pydantic import BaseModel, ValidationError

from shared.problems import BadRequest, PayloadTooLarge, Unprocessable, problem_for_status

M = TypeVar("M", bound=BaseModel)
MAX_BYTES = 16 * 1024


async def read_body(request: Request, *, is_form: bool, what: str, max_bytes: int = MAX_BYTES) -> Any:
    """The parsed body (a form's fields as a dict of their first values), read at most ``max_bytes``."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not is_form and ctype not in ("", "application/json") and not ctype.endswith("+json"):
        raise problem_for_status(415, "send JSON or an HTML form (application/x-www-form-urlencoded)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"{what} is at most {max_bytes // 1024} kB")
    try:
        if is_form:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
            return {k: v[0] for k, v in fields.items()}
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON or form data") from None


def validate(model: type[M], raw: Any) -> M:
    """``raw`` as ``model``, or a 422 whose errors carry loc and msg only: the input is never echoed."""
    if not isinstance(raw, dict):
        raise Unprocessable("the body must be an object", errors=[{"loc": ["body"], "msg": "must be an object"}])
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": ["body", *err.get("loc", ())], "msg": str(err.get("msg", ""))} for err in exc.errors()]
        raise Unprocessable("One or more fields are invalid", errors=errors) from None
