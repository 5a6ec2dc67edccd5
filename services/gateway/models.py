"""Every gateway table, for migrations."""

from services.gateway.base import Base

metadata = Base.metadata
