"""The screening import job: read the file (the household import's reader, bounded in time and memory), check
each row, then in one transaction COPY the good rows in, store them set-based (a content digest makes the same row
twice one row), match them to households by the ID digest, and raise the rules' warnings in one statement.

The job is an ``import_job`` of kind ``screening`` (progress, ``errors: [{row, field, msg}]`` and the summary at
``GET /api/v1/jobs/{job_id}``), run by the registry worker through ``bulk.jobs.run``."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from itertools import islice
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.bulk import jobs
from services.registry.bulk.columns import CellError
from services.registry.bulk.pipeline import MAX_STORED_ERRORS, FileRejected, gc_paused
from services.registry.bulk.reader import MAX_EMPTY_RUN, tables
from services.registry.households.service import ID_FIELD
from services.registry.monitoring.screenings import columns, repository
from shared import audit, pii
from shared.db import Database, driver
from shared.idnumber import mask
from shared.settings import Settings

log = logging.getLogger("jingzhun.registry.screenings")

TOPIC = "screening.requested"
KIND = "screening"
DIGEST_FIELD = "screening_row"
WRITE_ATTEMPTS = 3


def read_rows(content: bytes, filename: str, *, on_rows=None) -> tuple[list[tuple], list[dict[str, Any]], int]:
    """Every data row checked: (valid rows as (id_number, department, kind, amount_fen, occurred_on), row errors,
    rows read). Raises FileRejected for the file as a whole."""
    valid: list[tuple] = []
    errors: list[dict[str, Any]] = []
    total = 0
    for table in tables(content, filename, header=columns.HEADER):
        at = table.columns
        while block := list(islice(table.rows, 5_000)):
            for number, cells in block:
                values, bad = [], False
                for col in columns.COLUMNS:
                    i = at[col.key]
                    try:
                        values.append(columns.CONVERT[col.key](cells[i] if i < len(cells) else None))
                    except CellError as exc:
                        bad = True
                        error = {"row": number, "field": col.label, "msg": str(exc)}
                        if table.sheet is not None:
                            error["sheet"] = table.sheet
                        errors.append(error)
                if not bad:
                    valid.append(tuple(values))
            total += len(block)
            if on_rows is not None:
                on_rows(total)
    if total == 0:
        raise FileRejected("no data rows below the header (empty rows are skipped; a run of "
                           f"{MAX_EMPTY_RUN:,} empty rows ends the table)")
    return valid, errors, total


def records(cipher: pii.PiiCipher, rows: list[tuple]) -> list[tuple]:
    """The COPY records: content digest, person digest, masked ID number and the facts (no ID number in full)."""
    ids = [r[0] for r in rows]
    people = cipher.digests(ids, field=ID_FIELD)
    contents = cipher.digests([f"{r[0]}|{r[1]}|{r[2]}|{r[3]}|{r[4].isoformat()}" for r in rows], field=DIGEST_FIELD)
    return [(c, p, mask(r[0]), r[1], r[2], r[3], r[4]) for c, p, r in zip(contents, people, rows)]


async def _import(session: AsyncSession, *, job: Mapping[str, Any], recs: list[tuple]) -> dict[str, Any]:
    scope = jobs.scope_for_job(job)
    conn = await driver(session)
    await repository.load_incoming(session, conn, recs)
    distinct = await repository.incoming_distinct(session)
    stored = await repository.store(session, job_id=job["id"], scope=scope)
    counts = await repository.file_counts(session, scope=scope)
    warnings = await repository.raise_warnings(session, job_id=job["id"], scope=scope)
    years = sorted({r[6].year for r in recs})
    return {"rows": distinct, "created": stored["created"], "already_imported": distinct - stored["created"],
            "matched": counts["matched"], "unmatched": counts["unmatched"], "years": years,
            "warnings_created": sum(warnings.values()), "warnings_by_rule": warnings}


async def _finish(session: AsyncSession, job: Mapping[str, Any], *, total: int, errors: list[dict[str, Any]],
                  summary: dict[str, Any]) -> None:
    await repository.finish_job(
        session, job_id=job["id"], total=total, errors=errors[:MAX_STORED_ERRORS], errors_total=len(errors),
        summary=summary,
        message=(f"{summary['created']} new screening rows ({summary['matched']} matched to a household, "
                 f"{summary['unmatched']} not); {summary['warnings_created']} warnings raised; "
                 f"{len({e['row'] for e in errors})} rows with errors"))
    await audit.record(session, actor=job["created_by"], action="monitoring_screening.import", entity="import_job",
                       entity_id=str(job["id"]), diff={"filename": job["filename"], **summary,
                                                       "rows_with_errors": len({e["row"] for e in errors})})


async def run_job(*, pool: asyncpg.Pool, imports: Database, settings: Settings, job: Mapping[str, Any],
                  content: bytes, ticker: jobs.Ticker) -> str:
    """The runner ``bulk.jobs.run`` calls for a screening job."""
    job_id = job["id"]
    try:
        with gc_paused():
            valid, errors, total = await asyncio.to_thread(read_rows, content, job["filename"], on_rows=ticker.reading)
    except FileRejected as exc:
        await jobs.fail(pool, job_id, str(exc))
        return "failed"
    except Exception:  # noqa: BLE001 - a file must never crash the worker
        log.exception("screening %s: reading the file failed", job_id)
        await jobs.fail(pool, job_id, "the file could not be read; nothing was imported")
        return "failed"
    await ticker(total, 0)
    recs = records(pii.cipher(settings), valid)
    for attempt in range(WRITE_ATTEMPTS):
        async with imports.sessionmaker() as session:
            try:
                summary = await _import(session, job=job, recs=recs) if recs else {
                    "rows": 0, "created": 0, "already_imported": 0, "matched": 0, "unmatched": 0, "years": [],
                    "warnings_created": 0, "warnings_by_rule": {}}
                await _finish(session, job, total=total, errors=errors, summary=summary)
                await session.commit()
                await ticker(total, total)
                return "done"
            except Exception as exc:  # noqa: BLE001
                await session.rollback()
                if not _deadlock(exc):
                    log.exception("screening %s failed", job_id)
                    await jobs.fail(pool, job_id,
                                    "an internal error stopped the screening import; nothing was imported")
                    return "failed"
                log.info("screening %s: deadlock with another import, retrying (%d)", job_id, attempt + 1)
    await jobs.fail(pool, job_id, "the screening import kept colliding with another one; import the file again")
    return "failed"


def _deadlock(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, asyncpg.DeadlockDetectedError):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


async def on_screening_requested(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """The worker's handler for ``screening.requested``."""
    try:
        job_id = uuid.UUID(str((event.get("payload") or {})["job_id"]))
    except (KeyError, TypeError, ValueError):
        return
    await jobs.run(db=ctx["db"], settings=ctx["settings"], job_id=job_id, runner=run_job)


HANDLERS = {TOPIC: on_screening_requested}
