"""Regions: the 12-digit division tree each user's scope is cut from."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.regions import repository
from services.registry.regions.models import Region
from services.registry.regions.schemas import LEVEL_LABELS, RegionCreate, RegionRead
from shared import audit, regions
from shared.auth import Principal
from shared.problems import Conflict, NotFound, Unprocessable


def to_read(region: Region) -> RegionRead:
    return RegionRead(code=region.code, name=region.name, level=region.level,
                      level_label=LEVEL_LABELS[region.level], parent_code=region.parent_code,
                      rural_population=region.rural_population, version=region.version)


def check_visible(principal: Principal, code: str) -> None:
    """404 unless ``code`` is a region code inside the caller's subtree (whether it exists is the caller's to ask)."""
    try:
        regions.validate(code)
    except ValueError:
        raise NotFound("No such region") from None
    if not principal.covers(code):
        raise NotFound("No such region")


async def get_visible(*, session: AsyncSession, principal: Principal, code: str) -> Region:
    """The region, or 404 when unknown or outside the caller's subtree."""
    check_visible(principal, code)
    region = await repository.get(session, code)
    if region is None:
        raise NotFound("No such region")
    return region


async def create(*, session: AsyncSession, principal: Principal, region_in: RegionCreate) -> Region:
    if not principal.covers(region_in.code):
        raise NotFound("No such parent region in your scope")
    parent = regions.parent(region_in.code)
    # The root of a user's scope may be created without its parent; anything below needs its parent.
    if region_in.code != principal.region and parent is not None and await repository.get(session, parent) is None:
        raise Unprocessable(f"parent region {parent} does not exist",
                            errors=[{"loc": ["body", "code"], "msg": f"parent region {parent} does not exist"}])
    if await repository.get(session, region_in.code) is not None:
        raise Conflict(f"region {region_in.code} already exists")
    region = Region(code=region_in.code, name=region_in.name, level=regions.level_of(region_in.code),
                    parent_code=parent, rural_population=region_in.rural_population)
    await repository.add(session, region)
    await audit.record(session, actor=principal.sub, action="region.create", entity="region",
                       entity_id=region.code, diff=region_in.model_dump())
    return region


async def children(*, session: AsyncSession, principal: Principal, code: str) -> list[Region]:
    await get_visible(session=session, principal=principal, code=code)
    return await repository.children(session, code)
