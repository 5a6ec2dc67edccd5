"""``GET /dashboard`` and its assets (the page, its script and stylesheet, Apache ECharts 6.1.0 from npm's
``echarts`` package, ``dist/echarts.min.js`` with its LICENSE and NOTICE), all from this folder: the page loads
nothing from anywhere else, so it works on an intranet with no internet (政务外网).

The page holds no data: it signs in at ``/api/v1/auth/token`` and asks the statistics endpoints through the
gateway with the user's bearer token, so what it shows is scoped to the user's region exactly as the API is.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from shared.problems import NotFound

STATIC = Path(__file__).parent / "static"
ECHARTS_VERSION = "6.1.0"

# name under /dashboard/assets/ → (file, media type, seconds it may be cached)
ASSETS: dict[str, tuple[Path, str, int]] = {
    "dashboard.js": (STATIC / "dashboard.js", "text/javascript; charset=utf-8", 0),
    "dashboard.css": (STATIC / "dashboard.css", "text/css; charset=utf-8", 0),
    "echarts.min.js": (STATIC / "echarts" / "echarts.min.js", "text/javascript; charset=utf-8", 86_400),
    "echarts/LICENSE": (STATIC / "echarts" / "LICENSE", "text/plain; charset=utf-8", 86_400),
    "echarts/NOTICE": (STATIC / "echarts" / "NOTICE", "text/plain; charset=utf-8", 86_400),
    "echarts/licenses/LICENSE-d3": (STATIC / "echarts" / "licenses" / "LICENSE-d3", "text/plain; charset=utf-8",
                                    86_400),
}

# Scripts and styles from here only; the page talks to this origin only. (ECharts sets element styles from script.)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "connect-src 'self'; img-src 'self' data: blob:; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html; charset=utf-8",
                        headers=HEADERS | {"Cache-Control": "no-cache"})


@router.get("/dashboard/")
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=308)


@router.get("/dashboard/assets/{name:path}")
async def asset(name: str) -> FileResponse:
    found = ASSETS.get(name)
    if found is None:
        raise NotFound("No such resource")
    path, media_type, max_age = found
    cache = f"public, max-age={max_age}" if max_age else "no-cache"
    return FileResponse(path, media_type=media_type, headers=HEADERS | {"Cache-Control": cache})
