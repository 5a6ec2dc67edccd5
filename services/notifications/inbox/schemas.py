from datetime import datetime

from pydantic import BaseModel


class InboxMessageRead(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
