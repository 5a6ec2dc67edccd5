"""Per-request context carried to logs and outgoing calls."""

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
bearer_token: ContextVar[str | None] = ContextVar("bearer_token", default=None)
