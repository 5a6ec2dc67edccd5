"""Fund sources (资金来源): where earmarked money comes from, with the document that released it."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.funds.glossary import FUND_LEVEL_LABELS
from services.funds.sources import repository
from services.funds.sources.models import FundSource
from services.funds.sources.schemas import FundSourceCreate, FundSourceRead
from shared import audit
from shared.auth import Principal
from shared.pagination import decode_cursor, page
from shared.problems import NotFound


def to_read(source: FundSource) -> FundSourceRead:
    return FundSourceRead(id=source.id, name=source.name, level=source.level,
                          level_label=FUND_LEVEL_LABELS[source.level], doc_no=source.doc_no, year=source.year,
                          region_code=source.region_code, version=source.version)


async def create(*, session: AsyncSession, principal: Principal, source_in: FundSourceCreate) -> FundSource:
    source = FundSource(**source_in.model_dump(), region_code=principal.region, created_by=principal.sub)
    session.add(source)
    await session.flush()
    await audit.record(session, actor=principal.sub, action="fund_source.create", entity="fund_source",
                       entity_id=source.id, diff=source_in.model_dump())
    return source


async def get(*, session: AsyncSession, principal: Principal, source_id: int) -> FundSource:
    source = await repository.one(session, principal, source_id)
    if source is None:
        raise NotFound("No such fund source")
    return source


async def list_(*, session: AsyncSession, principal: Principal, year: int | None, limit: int,
                cursor: str | None) -> tuple[list[FundSource], str | None]:
    key = decode_cursor(cursor, id=int)
    rows = await repository.page_of(session, principal, year=year, after=key["id"] if key else None,
                                    limit=limit + 1)
    return page(rows, limit, lambda s: {"id": s.id})
