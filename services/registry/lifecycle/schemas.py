from pydantic import BaseModel

from services.registry.glossary import Action
from shared.http_types import Year, text


class TransitionIn(BaseModel):
    """``propose_registration`` (pending → registered after 公示), ``propose_exit`` (registered/returned →
    exited after 公示; needs ``year``), ``mark_returned`` (exited → returned, now; needs ``reason``),
    ``remove`` (any → removed, now; needs ``reason``)."""

    action: Action
    reason: text(500) | None = None
    year: Year | None = None
