"""Every funds table, for migrations."""

from services.funds.base import Base
from services.funds.notices import models as _notices  # noqa: F401
from services.funds.sources import models as _sources  # noqa: F401

metadata = Base.metadata
