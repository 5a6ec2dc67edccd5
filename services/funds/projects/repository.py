"""Every query on projects, their fundings and payments: totals in one aggregate, rows a page at a time. A caller
reads the projects of its subtree (:func:`readable`): any other is simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.projects.models import Project, ProjectFunding, ProjectPayment
from shared import regions, scoping
from shared.auth import Principal

Child = TypeVar("Child", ProjectFunding, ProjectPayment)


@dataclass(frozen=True)
class Totals:
    """A project's money in fen: committed to it, paid (spent from its fundings), given back."""

    funded: int = 0
    paid: int = 0
    released: int = 0

    @property
    def unpaid(self) -> int:
        return self.funded - self.paid - self.released


def readable(principal: Principal) -> Select:
    return select(Project).where(scoping.subtree(Project.village_code, principal))


async def one(session: AsyncSession, principal: Principal, project_id: int, *, lock: bool = False) -> Project | None:
    q = readable(principal).where(Project.id == project_id)
    if lock:
        q = q.with_for_update()
    return (await session.execute(q)).scalars().first()


async def page_of(session: AsyncSession, principal: Principal, *, within: str | None, status: str | None,
                  after: int | None, limit: int) -> list[Project]:
    """The caller's projects in ``within``'s subtree (all of them without), in id order."""
    q = readable(principal)
    if within:
        q = q.where(Project.village_code.startswith(regions.prefix(within)))
    if status is not None:
        q = q.where(Project.status == status)
    if after is not None:
        q = q.where(Project.id > after)
    return list((await session.execute(q.order_by(Project.id).limit(limit))).scalars().all())


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


async def children(session: AsyncSession, model: type[Child], project_id: int, *, after: int, limit: int
                   ) -> list[Child]:
    """A project's fundings or payments (``model``) after id ``after``, oldest first."""
    return list((await session.execute(select(model).where(
        model.project_id == project_id, model.id > after).order_by(model.id).limit(limit))).scalars().all())


async def child(session: AsyncSession, model: type[Child], project_id: int, child_id: int) -> Child | None:
    return (await session.execute(select(model).where(
        model.project_id == project_id, model.id == child_id))).scalars().first()
