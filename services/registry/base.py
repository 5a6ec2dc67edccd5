"""The registry's SQLModel base: every registry table lives in this metadata."""

from shared.models import service_base

Base = service_base("registry")
