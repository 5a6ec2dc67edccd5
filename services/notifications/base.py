"""The notifications service's SQLModel base: every notifications table lives in this metadata."""

from shared.models import service_base

Base = service_base("notifications")
