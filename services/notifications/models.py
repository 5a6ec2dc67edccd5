"""Every notifications table, for migrations."""

from services.notifications.base import Base
from services.notifications.inbox import models as _inbox  # noqa: F401
from services.notifications.pending import models as _pending  # noqa: F401
from services.notifications.sms import models as _sms  # noqa: F401

metadata = Base.metadata
