"""Every notifications table, for migrations."""

from services.notifications.base import Base
from services.notifications.inbox import models as _inbox  # noqa: F401

metadata = Base.metadata
