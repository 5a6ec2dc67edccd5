"""The ``jingzhun`` command (CONTRACT §1).

``jingzhun up [--demo]``     the whole stack in the foreground until Ctrl-C / SIGTERM (:mod:`jingzhun.supervisor`)
``jingzhun migrate``         upgrade every service's database
``jingzhun create-user ...`` add a staff user to the gateway's database
``jingzhun makemigration SERVICE -m MESSAGE``
``jingzhun import FILE --region CODE``  import households (.xlsx / .csv, CONTRACT §9) the way the upload job does
``jingzhun worker SERVICE``  (hidden) one service's arq worker; ``up`` runs one per service with a worker.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from jingzhun.console import CliError, ProgressBar, say
from jingzhun.datadir import database
from jingzhun.supervisor import Supervisor, migrate_all
from shared.migrations import upgrade
from shared.settings import SERVICES, Settings

ROLES = ("county_admin", "township_officer", "village_cadre", "helper", "finance_officer", "auditor")


def _worker_module(service: str):
    """A service's arq worker module (imported on demand: a worker process loads only its own service)."""
    if service == "registry":
        from services.registry import worker
    elif service == "funds":
        from services.funds import worker
    elif service == "notifications":
        from services.notifications import worker
    else:
        raise CliError(f"{service} has no worker")
    return worker


def run_worker(service: str) -> None:
    from shared import queue
    from shared.app import run_logging
    from shared.settings import get_settings
    settings = get_settings()
    run_logging(f"{service}-worker", settings)
    if settings.verbose:
        queue.verbose_console()
    queue.run_worker(_worker_module(service).settings(settings))


async def create_user(settings: Settings, fields: dict) -> object:
    """Create a staff user with the gateway's own ``create_user`` (rules, password policy, audit), in-process."""
    from shared.db import Database
    from shared.problems import Problem
    from services.gateway.users import service
    db = Database(settings, "gateway", pool_size=1)
    try:
        async with db.sessionmaker() as session:
            try:
                user = await service.create_user(session, created_by="cli", **fields)
            except Problem as exc:
                details = "; ".join(f"{'.'.join(map(str, e.get('loc', ())[1:]))}: {e.get('msg')}"
                                    for e in exc.errors or []) or exc.detail or exc.title
                raise CliError(f"user not created ({exc.status}): {details}") from None
            await session.commit()
            return user
    finally:
        await db.close()


async def import_households(settings: Settings, path: Path, region: str) -> int:
    """``jingzhun import``: the registry's import path in-process, with a progress bar; prints the outcome."""
    from services.registry.bulk import cli as bulk
    from services.registry.bulk import reader
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    say(f"reading {path.name}")
    bar = ProgressBar("importing")
    try:
        outcome = await bulk.import_file(settings, path=path, region=region, actor="cli", progress=bar)
    except reader.FileRejected as exc:
        raise CliError(f"{path.name} not imported: {exc}") from None
    except ValueError as exc:
        raise CliError(f"--region {region}: {exc}") from None
    finally:
        bar.close()
    s = outcome.summary()
    print(f"{path.name}: {s['rows']:,} rows; {s['households_created']:,} households and {s['members_created']:,} "
          f"members created; {s['households_matched']:,} households already there ({s['members_unchanged']:,} members "
          f"unchanged, {s['members_added']:,} added); {s['rows_failed']:,} rows with errors "
          f"({time.monotonic() - bar.started:.1f} s)")
    for e in outcome.errors[:50]:
        where = f"{e['sheet']}!" if e.get("sheet") else ""
        print(f"  row {where}{e['row']} {e['field']}: {e['msg']}")
    if len(outcome.errors) > 50:
        print(f"  … and {len(outcome.errors) - 50:,} more")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jingzhun", description="Jingzhun 精准扶贫 backend")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="start the whole stack in the foreground (Ctrl-C stops it)")
    up.add_argument("--demo", action="store_true", help="seed the demo county at first start (JINGZHUN_DEMO=1)")
    up.add_argument("--verbose", "-v", action="store_true",
                    help="also an access-log line per request and a line per cron tick (as JINGZHUN_LOG_LEVEL does)")
    sub.add_parser("migrate", help="upgrade every service's database")
    cu = sub.add_parser("create-user", help="create a staff user in the gateway")
    cu.add_argument("--username", required=True)
    cu.add_argument("--password", required=True)
    cu.add_argument("--role", required=True, choices=ROLES)
    cu.add_argument("--region", required=True, help="12-digit region code")
    cu.add_argument("--display-name")
    cu.add_argument("--phone")
    mm = sub.add_parser("makemigration", help="autogenerate a migration for a service")
    mm.add_argument("service", choices=SERVICES)
    mm.add_argument("-m", "--message", required=True)
    imp = sub.add_parser("import", help="import households from an .xlsx or .csv file (CONTRACT §9 columns)")
    imp.add_argument("file", type=Path, help=".xlsx or .csv (UTF-8 or GB18030), one row per member")
    imp.add_argument("--region", required=True, help="12-digit region code: rows outside it are refused")
    worker = sub.add_parser("worker")      # hidden from the command list: `up` runs it
    worker.add_argument("service", choices=SERVICES)
    sub._choices_actions = [a for a in sub._choices_actions if a.dest != "worker"]
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = Settings()
    try:
        if args.command == "up":
            code = Supervisor(settings, demo=args.demo or settings.demo, verbose=args.verbose).run()
        elif args.command == "worker":
            run_worker(args.service)
            code = 0
        elif args.command == "migrate":
            with database(settings) as s:
                migrate_all(s)
            code = 0
        elif args.command == "create-user":
            fields = {"username": args.username, "password": args.password, "role": args.role,
                      "region_code": args.region, "display_name": args.display_name or args.username,
                      "phone": args.phone}
            with database(settings) as s:
                upgrade(s, "gateway")
                user = asyncio.run(create_user(s, fields))
            print(f"created user {getattr(user, 'username', args.username)} (id {getattr(user, 'id', '?')}, "
                  f"{args.role}, {args.region})")
            code = 0
        elif args.command == "import":
            with database(settings) as s:
                upgrade(s, "registry")
                code = asyncio.run(import_households(s, args.file, args.region))
        elif args.command == "makemigration":
            from shared.devtools import make_migration
            with database(settings) as s:
                make_migration(s, args.service, args.message)
            code = 0
        else:   # pragma: no cover - argparse refuses unknown commands
            code = 2
    except CliError as exc:
        say(f"error: {exc}", level="error")
        code = 1
    sys.exit(code)
