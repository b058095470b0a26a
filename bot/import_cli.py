"""`linli import`: a district's streets and townships, organisations, communities and
social workers from CSV or XLSX files; a dry run unless `--apply`, all or nothing.

Exit status: 0 when the files are fine (and, with --apply, imported), 1 when a file
or a row has a problem (then nothing is written), 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from bot.config import Settings


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="CSV (one file per kind) or XLSX (one sheet per kind) files")
    parser.add_argument("--apply", action="store_true",
                        help="write to the database (all rows or none); without it, only check and report")
    parser.add_argument("--kind", help="what every CSV file lists, when its column names do not tell: "
                        "district, organisation, community or social_worker")
    parser.add_argument("--template", type=Path, metavar="DIR",
                        help="write the template files (an .xlsx and one CSV per kind) into DIR and stop")
    parser.add_argument("--lang", choices=["zh", "en"], default="zh", help="column names of the template")
    parser.add_argument("--bot-username", help="the bot's @username, to print whole invitation links")
    parser.add_argument("--invite-days", type=int, default=None,
                        help="how long the social workers' invitations stay valid (default 60 days)")
    # Writing the templates touches no database: an operator may prepare them before migrating.
    parser.set_defaults(needs_database=lambda args: args.template is None)


def _fail(message: str) -> int:
    print(f"linli import: {message}", file=sys.stderr)
    return 1


def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services.import_files import read_tables, write_templates
    from bot.services.importer import IMPORT_INVITE_DAYS, FileProblem, parse_kind

    try:
        if args.template is not None:
            if args.files:
                return _fail("give either --template DIR or files to import, not both")
            paths = write_templates(args.template, args.lang)
            print("templates written: " + ", ".join(str(p) for p in paths))
            print("Replace the example rows with your district's, then: linli import FILE (a dry run), "
                  "and linli import FILE --apply")
            return 0
        if not args.files:
            return _fail("give the files to import, or --template DIR for templates to fill in")
        days = IMPORT_INVITE_DAYS if args.invite_days is None else args.invite_days
        if not 1 <= days <= 366:
            return _fail("--invite-days must be between 1 and 366")
        kind = parse_kind(args.kind) if args.kind else None
        tables = read_tables(args.files, kind)
    except FileProblem as problem:
        return _fail(str(problem))
    except OSError as error:
        return _fail(f"{error.filename or ''}: {error.strerror}")
    return asyncio.run(_import(settings, tables, apply=args.apply, bot_username=args.bot_username,
                               invite_ttl=timedelta(days=days)))


async def _import(settings: Settings, tables: list, *, apply: bool, bot_username: str | None,
                  invite_ttl: timedelta) -> int:
    from sqlalchemy.exc import DBAPIError

    from bot.clock import SystemClock
    from bot.db import make_engine, make_session_factory
    from bot.services.importer import import_tables, render_report

    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session:
            try:
                report = await import_tables(session, tables, now=SystemClock().now(),
                                             default_timezone=settings.timezone, invite_ttl=invite_ttl)
                committed = apply and not report.errors
                if committed:
                    await session.commit()
                else:
                    await session.rollback()  # a dry run, or a file with errors: nothing is written
            except DBAPIError as error:
                await session.rollback()
                reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
                if "no such table" in reason or "does not exist" in reason or "no such column" in reason:
                    return _fail(f"the database has no Linli schema yet ({reason}); run `linli db upgrade` first")
                return _fail(f"the database refused the import ({reason}); nothing was written")
    finally:
        await engine.dispose()
    for line in render_report(report, applied=committed, bot_username=bot_username):
        print(line)
    return 1 if report.errors else 0
