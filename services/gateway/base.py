"""The gateway service's SQLModel base: every gateway table lives in this metadata."""

from shared.models import service_base

Base = service_base("gateway")
