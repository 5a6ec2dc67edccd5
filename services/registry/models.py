"""Every registry table, for migrations."""

from services.registry.assistance import models as _assistance  # noqa: F401
from services.registry.base import Base
from services.registry.bulk import models as _bulk  # noqa: F401
from services.registry.households import models as _households  # noqa: F401
from services.registry.monitoring.cases import models as _cases  # noqa: F401
from services.registry.monitoring.reports import models as _reports  # noqa: F401
from services.registry.monitoring.screenings import models as _screenings  # noqa: F401
from services.registry.monitoring.thresholds import models as _thresholds  # noqa: F401
from services.registry.poverty_lines import models as _poverty_lines  # noqa: F401
from services.registry.regions import models as _regions  # noqa: F401

metadata = Base.metadata
