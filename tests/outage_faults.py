"""What the outage tests break: a PostgreSQL that dies (a stand-in that resets connections, or a real one
SIGKILLed), and a counting query to watch the damage with."""

import asyncio
import os
import signal

from sqlalchemy import make_url, text

from shared.db import Database
from shared.embedded import EmbeddedPostgres, RunDir


class DyingDatabase:
    """A TCP stand-in for the PostgreSQL server that can die like one: ``kill()`` resets every connection (the
    server rolls back what was open) and refuses new ones until ``revive()``."""

    def __init__(self, settings) -> None:
        url = make_url(settings.database_url)
        socket_dir = url.query.get("host")
        self.unix = f"{socket_dir}/.s.PGSQL.{url.port or 5432}" if socket_dir else None
        self.target = (url.host or "127.0.0.1", url.port or 5432)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.kills = 0

    def url_for(self, settings) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def start(self) -> "DyingDatabase":
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _link(self, reader, writer) -> None:
        try:
            if self.unix:
                up_reader, up_writer = await asyncio.open_unix_connection(self.unix)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self.links.add(link)

        async def pump(src, dst) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, RuntimeError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self.links.discard(link)

    async def kill(self) -> None:
        self.kills += 1
        self.server.close()
        for a, b in list(self.links):
            a.transport.abort()
            b.transport.abort()
        self.server = None

    async def revive(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self.server is not None:
            await self.kill()


async def count(db: Database, sql: str) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(text(sql))).scalar_one()


class KilledPostgres:
    """A PostgreSQL of the test's own whose postmaster is SIGKILLed, then started again on its data (crash recovery)."""

    def __init__(self, data_dir) -> None:
        self.run = RunDir(data_dir)
        self.pg = EmbeddedPostgres(data_dir, self.run.path)

    async def start(self) -> "KilledPostgres":
        await asyncio.to_thread(self.pg.start)
        return self

    def url_for(self, settings) -> str:
        return self.pg.url

    async def kill(self) -> None:
        os.kill(self.pg.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(self.pg.proc.wait)

    async def revive(self) -> None:
        for _ in range(50):          # its orphaned backends must notice the death and leave its shared memory first
            try:
                await asyncio.to_thread(self.pg.start)
                return
            except RuntimeError:
                await asyncio.sleep(0.2)
        raise RuntimeError("PostgreSQL did not start again after the kill")

    async def close(self) -> None:
        await asyncio.to_thread(self.pg.stop)
        self.pg.remove_outside_data()
        self.run.cleanup()


def dying_target(dying: DyingDatabase) -> str:
    """The real server behind the stand-in (for the test's own look at the data)."""
    if dying.unix:
        return f"postgresql://postgres@/postgres?host={dying.unix.rsplit('/', 1)[0]}"
    return f"postgresql://postgres@{dying.target[0]}:{dying.target[1]}/postgres"
