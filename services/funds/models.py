"""Every funds table, for migrations."""

from services.funds.allocations import models as _allocations  # noqa: F401
from services.funds.base import Base
from services.funds.disbursements import models as _disbursements  # noqa: F401
from services.funds.ledger import models as _ledger  # noqa: F401
from services.funds.loans import models as _loans  # noqa: F401
from services.funds.notices import models as _notices  # noqa: F401
from services.funds.projects import models as _projects  # noqa: F401
from services.funds.reconciliation import models as _reconciliation  # noqa: F401
from services.funds.risk_claims import models as _risk_claims  # noqa: F401
from services.funds.sources import models as _sources  # noqa: F401

metadata = Base.metadata
