"""The `linli` command line: run · demo · db upgrade · seed · admin grant · i18n compile."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linli", description="Linli (邻里): community social work services in chat.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the bot (long polling)")

    demo = sub.add_parser("demo", help="play the sample story against the bundled emulator; no token, no network")
    demo.add_argument("--lang", choices=["zh_CN", "en", "zh"], default="zh_CN", help="language of the transcript")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate to the latest schema")
    upgrade.add_argument("revision", nargs="?", default="head")

    seed = sub.add_parser("seed", help="load the service catalogue")
    seed.add_argument("--sample", action="store_true", help="also load the sample world of DESIGN.md")

    admin = sub.add_parser("admin", help="staff administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    grant = admin_sub.add_parser("grant", help="make a Telegram user a coordinator (the first one)")
    grant.add_argument("telegram_id", type=int)

    i18n = sub.add_parser("i18n", help="translations")
    i18n_sub = i18n.add_subparsers(dest="i18n_command", required=True)
    i18n_sub.add_parser("compile", help="compile locales/*.po into .mo files")

    from bot.import_cli import configure_parser as configure_import

    configure_import(sub.add_parser(
        "import", help="import a district's streets/townships, organisations, communities and social workers "
        "(CSV or XLSX; a dry run unless --apply)"))
    return parser


async def _seed(settings: Settings, sample: bool) -> str:
    from bot.clock import SystemClock
    from bot.db import make_engine, make_session_factory
    from bot.services.catalogue import load_catalogue
    from bot.services.world import seed_sample

    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            if sample:
                world = await seed_sample(session, timezone=settings.timezone, now=SystemClock().now())
                return f"catalogue and sample world loaded: {len(world.communities)} communities, {len(world.people)} people"
            report = await load_catalogue(session)
            return f"catalogue loaded: {report.target_groups} target groups, {report.categories} services"
    finally:
        await engine.dispose()


async def _grant(settings: Settings, telegram_id: int) -> str:
    from bot.clock import SystemClock
    from bot.db import make_engine, make_session_factory
    from bot.services import users

    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            granted = await users.ensure_coordinators(session, [telegram_id], now=SystemClock().now())
            return f"{telegram_id} is {'now' if granted else 'already'} a coordinator"
    finally:
        await engine.dispose()


async def _run(settings: Settings) -> None:
    from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

    from bot.app import build_app

    app = build_app(settings)
    try:
        # Ask Telegram who we are first: a wrong token or no route is one clear line, not a traceback.
        await app.bot.me()
    except TelegramUnauthorizedError:
        await app.bot.session.close()
        raise ConfigError("BOT_TOKEN: Telegram does not accept this token; check it with @BotFather") from None
    except TelegramNetworkError as error:
        await app.bot.session.close()
        where = settings.telegram_api_base or "api.telegram.org"
        raise ConfigError(f"TELEGRAM_API_BASE: cannot reach {where} ({error.message})") from None
    from bot.perf import freeze_startup_objects

    freeze_startup_objects()  # after start-up: what exists now lives as long as the process
    await app.start_polling(handle_signals=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        # The demo prints a transcript; only warnings may interrupt it.
        level = "WARNING" if args.command == "demo" else settings.log_level
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command == "run":
            settings.require_token()
            asyncio.run(_run(settings))
        elif args.command == "demo":
            try:
                from bot.demo import run_demo
            except ModuleNotFoundError as exc:
                if exc.name != "tgemu":
                    raise
                # The production image leaves the emulator out.
                print("linli demo needs the tgemu package: install Linli from a source checkout (pip install -e .)")
                return 1
            return asyncio.run(run_demo("zh_CN" if args.lang == "zh" else args.lang))
        elif args.command == "db":
            from bot.migrate import upgrade_url

            upgrade_url(settings.database_url, args.revision)
            print(f"database at {args.revision}")
        elif args.command == "seed":
            print(asyncio.run(_seed(settings, args.sample)))
        elif args.command == "admin":
            print(asyncio.run(_grant(settings, args.telegram_id)))
        elif args.command == "import":
            from bot.import_cli import run as run_import

            return run_import(settings, args)
        elif args.command == "i18n":
            from bot.i18n import ensure_compiled

            compiled = ensure_compiled()
            print(f"compiled {len(compiled)} catalogue(s)")
    except ConfigError as error:
        print(f"linli: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
