"""JSON answers rendered by orjson: several times faster than the standard library's encoder, and the same text as
Starlette's ``JSONResponse`` for the bodies this project builds (UTF-8, compact; non-str keys written as strings)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
