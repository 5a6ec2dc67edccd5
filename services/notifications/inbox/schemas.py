from datetime import datetime

from pydantic import BaseModel, Field

from shared.pagination import Page


class InboxMessageRead(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class InboxPage(Page[InboxMessageRead]):
    unread: int = Field(description="how many of your messages are unread (all of them, not only this page)")


class UnreadCount(BaseModel):
    unread: int
