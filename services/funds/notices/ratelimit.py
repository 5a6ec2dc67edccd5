"""Objection rate limits (shared.ratelimit's fixed windows): per client address (every attempt counts,
malformed ones too) and per notice (accepted objections only)."""

from __future__ import annotations

from shared.ratelimit import Limit, WindowLimiter, client_address

__all__ = ["PER_ADDRESS", "PER_NOTICE", "ObjectionLimiter", "client_address"]

PER_ADDRESS = Limit(5, 60)        # 5 objections a minute from one address
PER_NOTICE = Limit(100, 3600)     # 100 objections an hour on one notice


class ObjectionLimiter(WindowLimiter):
    def __init__(self, *, prefix: str, per_address: Limit = PER_ADDRESS, per_notice: Limit = PER_NOTICE) -> None:
        super().__init__(prefix=f"{prefix}:objections")
        self.per_address, self.per_notice = per_address, per_notice

    async def address_attempt(self, redis, address: str) -> None:
        await self.hit(redis, f"addr:{address}", self.per_address,
                       "Too many objections from your address; try again later")

    async def notice_objection(self, redis, notice_id: int) -> None:
        await self.hit(redis, f"notice:{notice_id}", self.per_notice,
                       "This notice has received too many objections in the last hour; try again later")
