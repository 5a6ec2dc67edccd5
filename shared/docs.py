"""The API docs as a person reads them, served by the project alone (a government intranet has no internet).

* :func:`install_docs`: ``/docs`` (Swagger UI from the ``swagger-ui-bundle-v2`` package, its script, stylesheet
  and favicon under ``/docs/assets/``, the OAuth2 redirect page) — no URL outside the project in what it serves.
* :func:`enum_labels` / :func:`describe_enums`: each code set's Chinese labels, from a service's glossary module,
  written into the OpenAPI schema of its enum.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from shared.problems import NotFound

ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
          "favicon-32x32.png": "image/png"}
ASSET_DIR = Path(str(swagger_ui_path))
# Swagger UI's own defaults would ask validator.swagger.io about the document: never.
UI_PARAMETERS = {"validatorUrl": None, "displayRequestDuration": True,
                 "docExpansion": "none", "filter": True, "tryItOutEnabled": False}


def install_docs(app: FastAPI, *, path: str = "/docs") -> None:
    """``path`` (Swagger UI, "Authorize" with OAuth2's password flow), ``path``/oauth2-redirect and
    ``path``/assets/<file>, all from the installed package."""
    assets = f"{path}/assets"
    redirect = f"{path}/oauth2-redirect"

    async def page(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · 接口文档",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png", oauth2_redirect_url=redirect,
            init_oauth=app.swagger_ui_init_oauth, swagger_ui_parameters=UI_PARAMETERS)

    async def oauth2_redirect(_: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            raise NotFound("No such resource")
        return FileResponse(ASSET_DIR / name, media_type=ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    app.add_route(path, page, include_in_schema=False)
    app.add_route(redirect, oauth2_redirect, include_in_schema=False)
    app.add_route(assets + "/{name}", asset, include_in_schema=False)


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def enum_labels(*modules: ModuleType) -> dict[str, dict[str, str]]:
    """Enum class name → {code: Chinese label}, pairing each ``StrEnum`` defined in ``modules`` with a label
    dict of those modules: ``Relation`` ↔ ``RELATION_LABELS`` by name (it may leave codes unlabelled), else the
    one dict with exactly its codes (``NoticeKind`` ↔ ``KIND_LABELS``), else the one dict naming all of them."""
    dicts = [(k, {str(c): x for c, x in v.items()}) for m in modules for k, v in vars(m).items()
             if k.endswith("_LABELS") and isinstance(v, dict) and all(isinstance(x, str) for x in v.values())]
    names = {m.__name__ for m in modules}
    out: dict[str, dict[str, str]] = {}
    for m in modules:
        for name, cls in vars(m).items():
            if not (isinstance(cls, type) and issubclass(cls, Enum) and cls.__module__ in names):
                continue
            codes = [str(c.value) for c in cls]
            by_name = [v for k, v in dicts if k == f"{_words(name)}_LABELS" and set(codes) & set(v)]
            exact = [v for _, v in dicts if set(v) == set(codes)]
            covering = [v for _, v in dicts if set(codes) <= set(v)]
            chosen = by_name[:1] or (exact if len(exact) == 1 else []) or (covering if len(covering) == 1 else [])
            if chosen:
                out[name] = {c: chosen[0][c] for c in codes if c in chosen[0]}
    return out


def describe_enums(spec: dict[str, Any], labels: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Every enum schema named in ``labels`` says each code's label in its description (and in
    ``x-enum-labels``). Idempotent; changes ``spec`` in place and returns it."""
    schemas = (spec.get("components") or {}).get("schemas") or {}
    inline = [(None, p) for s in schemas.values() if isinstance(s, dict)
              for p in (s.get("properties") or {}).values() if isinstance(p, dict) and "enum" in p]
    for name, schema in [*schemas.items(), *inline]:
        if not isinstance(schema, dict) or "enum" not in schema:
            continue
        if name is None:         # a Literal: the labels of the one code set that has all its codes
            found = [t for t in labels.values() if set(schema["enum"]) <= set(t)]
            if not found or any(t != found[0] for t in found if {c: t[c] for c in schema["enum"]}
                                != {c: found[0][c] for c in schema["enum"]}):
                continue
            table = found[0]
        elif name in labels:
            table = labels[name]
        else:
            continue
        schema["x-enum-labels"] = {c: table[c] for c in schema["enum"] if c in table}
        listed = "; ".join(f"`{c}` {table[c]}" for c in schema["enum"] if c in table)
        own = schema.get("description", "")
        own = own.split("\n\n代码：")[0]
        schema["description"] = f"{own}\n\n代码：{listed}" if own else f"代码：{listed}"
    return spec

