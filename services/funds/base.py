"""The funds service's SQLModel base: every funds table lives in this metadata."""

from shared.models import service_base

Base = service_base("funds")
