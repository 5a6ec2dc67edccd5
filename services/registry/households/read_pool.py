"""The hot read's own asyncpg pool: the household read and its PII access-log row in one statement.

Its connections commit asynchronously (``synchronous_commit=off``): the access-log insert that goes with each
full view does not wait for a WAL flush. A database crash may lose the last fraction of a second of log rows
(never corrupt or reorder them); every write of the registry itself goes through the request session and
commits synchronously as usual.

Connections go back to the pool without asyncpg's default reset query (``RESET ALL; UNLISTEN *; ...``, a round
trip per request): this pool only runs single autocommit statements and never changes session state, and asyncpg
still rolls back any transaction left open before our ``reset`` hook runs.
"""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI

from shared import pii
from shared.db import asyncpg_dsn, database_name

SERVER_SETTINGS = {"synchronous_commit": "off", "application_name": "jingzhun-registry-read"}


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo (see the module docstring)."""


async def open_pool(app: FastAPI) -> None:
    """At start: the pool, and the PII key (a configured key file that is missing stops the start here rather
    than failing the first request). The pool connects on first use: a database that is away at start costs
    requests a 503 until it is back, not the service its start."""
    settings = app.state.settings
    pii.cipher(settings)
    app.state.read_pool = await asyncpg.create_pool(
        asyncpg_dsn(settings, database_name(settings, "registry")), min_size=0, max_size=10,
        server_settings=SERVER_SETTINGS, reset=_keep_session)


async def close_pool(app: FastAPI) -> None:
    pool = getattr(app.state, "read_pool", None)
    if pool is not None:
        await pool.close()
