import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class SmsStatus(StrEnum):
    queued = "queued"        # 待发送: waiting for its (next) attempt, or for an SMS provider to be configured
    sent = "sent"            # 已发送: the provider accepted it (2xx)
    failed = "failed"        # 发送失败: every attempt failed, or there is no mobile number to send to


class SmsRead(BaseModel):
    id: uuid.UUID = Field(description="the message id the provider receives, also its Idempotency-Key")
    kind: str = Field(description="the event it reports: objection.resolved, payment.paid …")
    kind_label: str
    phone: str | None = Field(description="masked: 138****5678")
    text: str
    status: SmsStatus
    status_label: str
    detail: str = Field(description="where delivery stands, in words (e.g. no SMS provider configured)")
    parts: int = Field(description="SMS the provider bills for this text: 1 up to 70 characters (UCS-2 units), "
                                   "else one per 67")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    region_code: str
    created_at: datetime
    sent_at: datetime | None
