"""Queries of projects' fundings and payments: totals in one aggregate, rows a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.projects.models import ProjectFunding, ProjectPayment


@dataclass(frozen=True)
class Totals:
    """A project's money in fen: committed to it, paid (spent from its fundings), given back."""

    funded: int = 0
    paid: int = 0
    released: int = 0

    @property
    def unpaid(self) -> int:
        return self.funded - self.paid - self.released


async def totals(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, Totals]:
    """Per project: Σ of its fundings (what payments spent is each funding's ``spent``)."""
    f = ProjectFunding.__table__.c
    rows = (await session.execute(select(f.project_id, func.sum(f.amount), func.sum(f.spent), func.sum(f.released))
                                  .where(f.project_id.in_(list(project_ids))).group_by(f.project_id))).all()
    found = {pid: Totals(int(a), int(s), int(r)) for pid, a, s, r in rows}
    return {pid: found.get(pid, Totals()) for pid in project_ids}


async def fundings(session: AsyncSession, project_id: int, *, lock: bool = False) -> list[ProjectFunding]:
    q = select(ProjectFunding).where(ProjectFunding.project_id == project_id).order_by(ProjectFunding.id)
    if lock:
        q = q.with_for_update()
    return list((await session.execute(q)).scalars().all())


async def funding_page(session: AsyncSession, project_id: int, *, after: int, limit: int) -> list[ProjectFunding]:
    return list((await session.execute(select(ProjectFunding).where(
        ProjectFunding.project_id == project_id, ProjectFunding.id > after).order_by(ProjectFunding.id)
        .limit(limit))).scalars().all())


async def payment_page(session: AsyncSession, project_id: int, *, after: int, limit: int) -> list[ProjectPayment]:
    return list((await session.execute(select(ProjectPayment).where(
        ProjectPayment.project_id == project_id, ProjectPayment.id > after).order_by(ProjectPayment.id)
        .limit(limit))).scalars().all())


async def funding(session: AsyncSession, project_id: int, funding_id: int) -> ProjectFunding | None:
    return (await session.execute(select(ProjectFunding).where(
        ProjectFunding.project_id == project_id, ProjectFunding.id == funding_id))).scalars().first()


async def payment(session: AsyncSession, project_id: int, payment_id: int) -> ProjectPayment | None:
    return (await session.execute(select(ProjectPayment).where(
        ProjectPayment.project_id == project_id, ProjectPayment.id == payment_id))).scalars().first()
