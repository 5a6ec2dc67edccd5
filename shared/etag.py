"""ETag / If-Match on versioned resources (412 on mismatch)."""

from __future__ import annotations

from fastapi import Request, Response

from shared.problems import PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def check_if_match(request: Request, version: int) -> None:
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    if etag(version) not in tags:
        raise PreconditionFailed(f"resource is at version {version}", current_version=version)
