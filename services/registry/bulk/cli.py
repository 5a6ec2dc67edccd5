"""``jingzhun import FILE --region CODE``: the import path of the job, run in-process by an administrator."""

from __future__ import annotations

from pathlib import Path

from services.registry.bulk.pipeline import CONNECTIONS, Outcome, Progress, import_content
from services.registry.bulk.reader import FileRejected
from services.registry.households.scope import Scope, bounds
from shared import pii, regions
from shared.db import Database
from shared.settings import Settings

MAX_FILE = 256 * 1024 * 1024     # the row cap still applies; HTTP uploads stop at 20 MB


async def import_file(settings: Settings, *, path: Path, region: str, actor: str = "cli",
                      progress: Progress | None = None) -> Outcome:
    """Import ``path`` as a county administrator of ``region`` would; commits when done.

    Raises FileRejected (the file as a whole) or ValueError (the region code)."""
    regions.validate(region)
    size = path.stat().st_size
    if size > MAX_FILE:
        raise FileRejected(f"files up to {MAX_FILE // 2**20} MB can be imported")
    content = path.read_bytes()
    lo, hi = bounds(region)
    scope = Scope(lo=lo, hi=hi, helper=None, full_pii=True, actor=actor, role="county_admin")
    db = Database(settings, "registry", pool_size=CONNECTIONS)
    try:
        async with db.sessionmaker() as session:
            outcome = await import_content(session, content=content, filename=path.name, scope=scope,
                                           cipher=pii.cipher(settings), progress=progress,
                                           audit_ref=f"cli:{path.name}"[:64])
            await session.commit()
            return outcome
    finally:
        await db.close()
