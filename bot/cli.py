"""The `linli` command line: run · health · demo · db upgrade · seed · admin grant/list/revoke · certificate verify · i18n compile.

Operator text in English. Every failure an operator can meet (a bad setting, a
database that is unreachable or not migrated, Telegram out of reach) is one line
on stderr and a non-zero exit: 2 for configuration, 1 for the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.health import DEFAULT_MAX_AGE_SECONDS

# Commands that never read Linli's tables. Every other command, present or future,
# first checks that the database is reachable and migrated (`require_database`).
NO_DATABASE_CHECK = frozenset({"demo", "db", "i18n", "health"})


class OperatorError(Exception):
    """A failure the operator can act on; its message is one line (exit code 1)."""


def _package_version() -> str:
    try:
        return version("linli")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def telegram_user_id(text: str) -> int:
    """An argparse type: a person's Telegram id, which is positive (groups and channels are negative)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Telegram user id (a number)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"{value} is a group or channel id, not a person; give the person's Telegram user id (a positive number)"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linli", description="Linli (邻里): community social work services in chat.")
    parser.add_argument("--version", action="version", version=f"linli {_package_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")

    run = sub.add_parser("run", help="run the bot (long polling, one process); the database must be migrated first")
    run.add_argument("--webhook", action="store_true",
                     help="take updates on a webhook (WEBHOOK_URL, WEBHOOK_SECRET; HTTP_HOST:HTTP_PORT) instead of "
                     "polling: several replicas may run behind a load balancer, sharing PostgreSQL and Redis")

    health = sub.add_parser(
        "health", help="exit 0 if the running bot polled Telegram recently (reads HEARTBEAT_FILE); for healthchecks"
    )
    health.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE_SECONDS, metavar="SECONDS",
                        help=f"the oldest heartbeat that counts as alive (default {DEFAULT_MAX_AGE_SECONDS:.0f})")
    health.add_argument("--url", metavar="URL",
                        help="instead, ask this URL (webhook mode: http://127.0.0.1:8080/healthz) and exit 0 on a 200")

    demo = sub.add_parser("demo", help="play the sample story against the bundled emulator; no token, no network")
    demo.add_argument("--lang", choices=["zh_CN", "en", "zh"], default="zh_CN", help="language of the transcript")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", help="what to do with the schema")
    upgrade = db_sub.add_parser("upgrade", help="migrate DATABASE_URL to the latest schema (creates a SQLite file)")
    upgrade.add_argument("revision", nargs="?", default="head",
                         help="the Alembic revision to migrate to (default: head, the latest)")

    seed = sub.add_parser("seed", help="load the service catalogue")
    seed.add_argument("--sample", action="store_true",
                      help="also load the sample world (streets, communities, staff and residents for trying Linli)")

    admin = sub.add_parser("admin", help="staff administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION", help="what to do")
    grant = admin_sub.add_parser("grant", help="make a Telegram user a coordinator (the first one)")
    grant.add_argument("telegram_id", type=telegram_user_id, help="their Telegram user id (a positive number)")
    admin_sub.add_parser("list", help="list the coordinators")
    revoke = admin_sub.add_parser("revoke", help="take the coordinator role away; their unused invitation links stop working")
    revoke.add_argument("telegram_id", type=telegram_user_id, help="their Telegram user id (a positive number)")
    revoke.add_argument("--allow-none", action="store_true",
                        help="revoke even the last coordinator (nobody can invite staff until the next grant)")

    certificate = sub.add_parser("certificate", help="certificates of volunteer service")
    certificate_sub = certificate.add_subparsers(dest="certificate_command", required=True, metavar="ACTION",
                                                 help="what to do")
    check = certificate_sub.add_parser("verify", help="say whether a certificate is genuine and what it covers")
    check.add_argument("number", help="the certificate's number, like LL-2026-000001")
    check.add_argument("code", nargs="?", help="its check code, when given (printed beside the number)")
    check.add_argument("--lang", choices=["zh_CN", "en"], default="zh_CN", help="language of the answer")

    i18n = sub.add_parser("i18n", help="translations")
    i18n_sub = i18n.add_subparsers(dest="i18n_command", required=True, metavar="ACTION", help="what to do")
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


async def _verify_certificate(settings: Settings, number: str, code: str | None, lang: str) -> tuple[int, str]:
    from bot.db import make_engine, make_session_factory
    from bot.i18n import make_i18n
    from bot.services import certificates

    i18n = make_i18n(lang)
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session:
            found = await certificates.check(session, number, code)
    finally:
        await engine.dispose()
    if found is None:
        return 1, i18n.gettext("✖️ No certificate with this number and check code was issued by Linli: it is not "
                               "genuine, or it was mistyped.", locale=lang)
    return 0, i18n.gettext(certificates.GENUINE, locale=lang).format(**certificates.summary_params(found))


async def _list_coordinators(settings: Settings) -> str:
    from bot.db import make_engine, make_session_factory
    from bot.services.admin import list_coordinators

    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session:
            coordinators = await list_coordinators(session)
    finally:
        await engine.dispose()
    if not coordinators:
        return 'no coordinators yet; make the first with "linli admin grant TELEGRAM_ID"'
    lines = []
    for person in coordinators:
        name = person.name or "(has not written to the bot yet)"
        if person.username:
            name += f" @{person.username}"
        note = "  (ADMIN_IDS)" if person.telegram_id in settings.admin_ids else ""
        lines.append(f"{person.telegram_id}\t{name}\tsince {person.granted_at:%Y-%m-%d}{note}")
    return "\n".join(lines)


async def _revoke(settings: Settings, telegram_id: int, allow_none: bool) -> str:
    from bot.clock import SystemClock
    from bot.db import make_engine, make_session_factory
    from bot.services.admin import AdminRefused, revoke_coordinator

    if telegram_id in settings.admin_ids:
        raise OperatorError(
            f"{telegram_id} is in ADMIN_IDS, which makes them a coordinator again whenever linli run starts; "
            "remove them from ADMIN_IDS first"
        )
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            revoked = await revoke_coordinator(session, telegram_id, now=SystemClock().now(), allow_last=allow_none)
    except AdminRefused as refused:
        raise OperatorError(str(refused)) from None
    finally:
        await engine.dispose()
    if not revoked.was_coordinator:
        return f"{telegram_id} is not a coordinator; nothing to revoke"
    withdrawn = (
        f"; {revoked.invites_withdrawn} unused invitation link(s) they made no longer work"
        if revoked.invites_withdrawn
        else ""
    )
    return f"{telegram_id} is no longer a coordinator{withdrawn}"


def needs_database(args: argparse.Namespace) -> bool:
    """Whether this invocation reads Linli's tables (then `require_database` runs first).

    Yes unless the subcommand says otherwise for some of its options, with
    `parser.set_defaults(needs_database=lambda args: ...)` (or a plain bool).
    """
    needs = getattr(args, "needs_database", True)
    return bool(needs(args) if callable(needs) else needs)


def require_database(settings: Settings) -> None:
    """Stop with one line unless DATABASE_URL is reachable and migrated to this code's schema.

    `main` calls it before every command outside NO_DATABASE_CHECK, so a new
    subcommand is covered without doing anything.
    """
    from bot.migrate import DatabaseNotReady, check_migrated

    try:
        asyncio.run(check_migrated(settings.database_url))
    except DatabaseNotReady as error:
        raise OperatorError(str(error)) from None


def telegram_unreachable(settings: Settings, reason: str) -> str:
    """The start-up line when the Bot API cannot be reached, naming the variable that matters."""
    proxy_url = settings.proxy_url
    if proxy_url:
        from urllib.parse import urlsplit

        password = urlsplit(proxy_url).password
        if password:  # whatever the network library said, never the proxy's password
            reason = reason.replace(password, "***")
        target = settings.telegram_api_base or "api.telegram.org"
        return f"TELEGRAM_PROXY: cannot reach {target} through the proxy {settings.proxy_display} ({reason})"
    if settings.telegram_api_base:
        return f"TELEGRAM_API_BASE: cannot reach the Bot API server at {settings.telegram_api_base} ({reason})"
    return (
        f"cannot reach api.telegram.org ({reason}); where it is blocked, set TELEGRAM_PROXY (an http:// or "
        "socks5:// proxy) or TELEGRAM_API_BASE (a self-hosted Bot API server)"
    )


async def _run(settings: Settings, webhook: bool = False) -> None:
    from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

    from bot.app import build_app

    if webhook:
        settings.require_webhook()
        if settings.redis_url is None:
            logging.getLogger(__name__).warning(
                "webhook mode without REDIS_URL: run a single replica (conversations, locks and the record of "
                "handled updates live in this process)")

    app = build_app(settings)
    try:
        # Ask Telegram who we are first: a wrong token or no route is one clear line, not a traceback.
        await app.bot.me()
    except TelegramUnauthorizedError:
        await app.bot.session.close()
        await app.engine.dispose()
        raise ConfigError("BOT_TOKEN: Telegram does not accept this token; check it with @BotFather") from None
    except TelegramNetworkError as error:
        await app.bot.session.close()
        await app.engine.dispose()
        raise ConfigError(telegram_unreachable(settings, error.message)) from None
    if settings.proxy_display:
        logging.getLogger(__name__).info("Telegram through the proxy %s", settings.proxy_display)
    from bot.perf import freeze_startup_objects

    freeze_startup_objects()  # after start-up: what exists now lives as long as the process
    if webhook:
        await app.run_webhook(host=settings.http_host, port=settings.http_port or 8080)
    else:
        await app.start_polling(handle_signals=True)


def _upgrade(settings: Settings, revision: str) -> str:
    from alembic.util import CommandError

    from bot.migrate import DatabaseNotReady, display_url, upgrade_database

    try:
        before, after = upgrade_database(settings.database_url, revision)
    except DatabaseNotReady as error:
        raise OperatorError(str(error)) from None
    except CommandError as error:  # an unknown revision, mostly
        raise OperatorError(f"db upgrade: {error}") from None
    where = display_url(settings.database_url)
    if before == after:
        return f"database at {where} already at revision {after}"
    return f"database at {where} migrated from {before or 'empty'} to revision {after}"


def _health_url(url: str) -> str:
    """A 200 from the URL (the webhook server's /healthz) means alive."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the operator's own URL
            return f"alive: {url} answered {response.status}"
    except urllib.error.HTTPError as error:
        raise OperatorError(f"{url} answered {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OperatorError(f"{url} did not answer: {reason}") from None


def _health(settings: Settings, max_age: float) -> str:
    from bot.health import heartbeat_age

    if settings.heartbeat_file is None:
        raise ConfigError("HEARTBEAT_FILE: not set, so linli run writes no heartbeat to check")
    path = Path(settings.heartbeat_file)
    age = heartbeat_age(path)
    if age is None:
        raise OperatorError(f"no heartbeat at {path}: the bot is not running or has not polled Telegram yet")
    if age > max_age:
        raise OperatorError(f"the last heartbeat is {age:.0f} s old (limit {max_age:.0f} s): the bot is not polling")
    return f"alive: polled Telegram {age:.0f} s ago"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        # The demo prints a transcript and a healthcheck one line; only warnings may interrupt them.
        level = "WARNING" if args.command in {"demo", "health"} else settings.log_level
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if level != "DEBUG":
            # "Context impl SQLiteImpl", "Will assume transactional DDL": Alembic's INFO lines say nothing to an operator.
            logging.getLogger("alembic").setLevel(logging.WARNING)
        if args.command == "run":
            settings.require_token()  # a missing token is reported before the database
            if args.webhook:
                settings.require_webhook()
            if settings.heartbeat_file is not None and not Path(settings.heartbeat_file).parent.is_dir():
                raise ConfigError(f"HEARTBEAT_FILE: the directory {Path(settings.heartbeat_file).parent} does not exist")
        if args.command not in NO_DATABASE_CHECK and needs_database(args):
            require_database(settings)
        if args.command == "run":
            asyncio.run(_run(settings, webhook=args.webhook))
        elif args.command == "health":
            print(_health_url(args.url) if args.url else _health(settings, args.max_age))
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
            print(_upgrade(settings, args.revision))
        elif args.command == "seed":
            print(asyncio.run(_seed(settings, args.sample)))
        elif args.command == "admin":
            if args.admin_command == "grant":
                print(asyncio.run(_grant(settings, args.telegram_id)))
            elif args.admin_command == "list":
                print(asyncio.run(_list_coordinators(settings)))
            elif args.admin_command == "revoke":
                print(asyncio.run(_revoke(settings, args.telegram_id, args.allow_none)))
        elif args.command == "certificate":
            code, said = asyncio.run(_verify_certificate(settings, args.number, args.code, args.lang))
            print(said)
            return code
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
    except OperatorError as error:
        print(f"linli: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
