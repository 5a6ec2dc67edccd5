"""Every registry table, for migrations."""

from services.registry.base import Base
from services.registry.regions import models as _regions  # noqa: F401

metadata = Base.metadata
