"""Every gateway table, for migrations."""

from services.gateway.banks import models as _banks  # noqa: F401
from services.gateway.base import Base
from services.gateway.tokens import models as _tokens  # noqa: F401
from services.gateway.users import models as _users  # noqa: F401

metadata = Base.metadata
