#!/opt/venv/bin/python
"""Container health probes for Jingzhun (installed in the image as ``jingzhun-probe``).

    jingzhun-probe http URL        0 when URL answers 2xx within 3 s (compose healthchecks: the image has no curl)
    jingzhun-probe deps SERVICE    0 when the service's PostgreSQL database and Redis both answer (worker readiness)
    jingzhun-probe alive           0 while PID 1 (the container's process) runs, i.e. is not a zombie or stopped
                                   (worker liveness: an arq worker has no HTTP port)

Exit status 1 means unhealthy; the reason is printed on stderr. Only the standard library is needed for
``http`` and ``alive``; ``deps`` reads the same JINGZHUN_* settings as the services.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 3.0


def check_http(url: str, timeout: float = TIMEOUT) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (a probe of our own URL)
            if 200 <= resp.status < 300:
                return None
            return f"{url} answered {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url}: {exc}"


async def _deps(service: str, timeout: float) -> str | None:
    import asyncpg
    import redis.asyncio as aioredis

    from shared.db import asyncpg_dsn, database_name
    from shared.settings import SERVICES, Settings

    if service not in SERVICES:
        return f"unknown service {service!r} (one of {', '.join(SERVICES)})"
    settings = Settings()
    if not settings.database_url or not settings.redis_url:
        return "JINGZHUN_DATABASE_URL and JINGZHUN_REDIS_URL must both be set"
    try:
        conn = await asyncio.wait_for(
            asyncpg.connect(asyncpg_dsn(settings, database_name(settings, service))), timeout)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
    except Exception as exc:
        return f"database: {type(exc).__name__}: {exc}"
    client = aioredis.from_url(settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        await client.ping()
    except Exception as exc:
        return f"redis: {type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


def check_deps(service: str, timeout: float = TIMEOUT) -> str | None:
    return asyncio.run(_deps(service, timeout))


def check_alive(proc: Path = Path("/proc/1/stat")) -> str | None:
    try:
        stat = proc.read_text()
    except OSError as exc:
        return f"{proc}: {exc}"
    # "pid (comm) state ...": comm may hold spaces or parentheses, the state follows the last ')'.
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in {"Z", "X", "T", "t"}:
        return f"process 1 is in state {state}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "http":
        problem = check_http(args[1])
    elif len(args) == 2 and args[0] == "deps":
        problem = check_deps(args[1])
    elif args == ["alive"]:
        problem = check_alive()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
