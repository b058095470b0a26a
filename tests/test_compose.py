"""The Docker files, read as an operator's tools would (no Docker engine runs here).

The compose file is parsed and its promises checked: the bot starts only after the
migration succeeded, every long-running service has a healthcheck, and no secret is
written inline. The Dockerfile is read for the few things that must hold.

The `production` profile (webhook replicas behind nginx) is checked the same way, and
deploy/nginx.conf is parsed into its blocks to see which path reaches the replicas.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.cli import _parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "PROXY")
# A value Compose takes from .env and refuses to start without: ${NAME:?message}
REQUIRED_FROM_ENV = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_the_bot_waits_for_a_successful_migration(compose: dict) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "bot"}

    migrate = services["migrate"]
    assert migrate["command"] == ["linli", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart") == "no"

    needs = services["bot"]["depends_on"]
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert needs["postgres"]["condition"] == "service_healthy"
    assert needs["redis"]["condition"] == "service_healthy"


def test_long_running_services_have_healthchecks(compose: dict) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "bot", "bot-webhook", "proxy"):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
    bot = services["bot"]
    assert bot["healthcheck"]["test"] == ["CMD", "linli", "health"]
    assert "health" in {action for action in _parser()._subparsers._group_actions[0].choices}
    # `linli health` reads the heartbeat file the running bot writes.
    assert environment(bot).get("HEARTBEAT_FILE"), "the bot writes a heartbeat"


def test_no_secret_is_written_in_the_compose_file(compose: dict) -> None:
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if any(word in key for word in SECRET_WORDS):
                assert REQUIRED_FROM_ENV.fullmatch(value), f"{name}.{key} is written inline"
            if key == "DATABASE_URL":
                user_info = value.split("://", 1)[1].split("@", 1)[0]
                if ":" in user_info:
                    password = user_info.split(":", 1)[1]
                    assert REQUIRED_FROM_ENV.fullmatch(password), f"{name}: a password inside DATABASE_URL"
    ours = {name for name, s in compose["services"].items() if "build" in s}  # the services running Linli's image
    assert ours == {"migrate", "bot", "bot-webhook"}
    for name in ours:
        assert compose["services"][name].get("env_file") == ".env", f"{name}: BOT_TOKEN and ADMIN_IDS come from .env"


def test_env_example_documents_what_compose_and_the_bot_read() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in ("BOT_TOKEN", "ADMIN_IDS", "POSTGRES_PASSWORD", "TELEGRAM_PROXY", "TELEGRAM_API_BASE",
                 "HEARTBEAT_FILE", "WEBHOOK_URL", "WEBHOOK_SECRET", "HTTP_PORT", "TLS_CERT_DIR", "PROXY_PORT"):
        assert re.search(rf"^#? ?{name}=", example, re.MULTILINE), f"{name} is not in .env.example"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in readme, f"{name.upper()} is not in README's configuration table"


def test_the_image_is_multi_stage_non_root_and_without_the_emulator() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert sum(line.startswith("FROM ") for line in lines) >= 2, "a builder stage and a runtime stage"

    def first(prefix: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(prefix))

    # Dependencies are built and installed before any source is copied, so they stay cached.
    assert first("RUN python -c 'import tomllib") < first("COPY bot ")
    assert any("pip install --no-index" in line for line in lines[: first("COPY bot ")])

    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "runs as a non-root user"
    copied = " ".join(line for line in lines if line.startswith("COPY "))
    assert "tgemu" not in copied and "tests" not in copied and "COPY . " not in copied + " "
    assert "HEARTBEAT_FILE=" in dockerfile and 'CMD ["linli", "health"]' in dockerfile


def test_the_build_context_leaves_out_what_must_not_ship() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    for entry in (".git", ".venv", ".env", "*.sqlite3", "tests", "tgemu", ".pytest_cache", "**/__pycache__"):
        assert entry in ignored, f"{entry} would be sent to the Docker build"


# --- the `production` profile: webhook replicas behind nginx ----------------------------------------------------

DEFAULT_STACK = {"postgres", "redis", "migrate", "bot"}
# Where Telegram may post a webhook to.
TELEGRAM_PORTS = {"443", "80", "88", "8443"}
# ${NAME:?message} or ${NAME?message}: Compose refuses to load the file without NAME.
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):?\?")
# ${NAME:-default} (or ${NAME-default}, ${NAME}): the default when NAME is not set.
VARIABLE_DEFAULT = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?-([^}]*))?\}")


def profiles(service: dict) -> set[str]:
    return set(service.get("profiles") or [])


def strings(node: object) -> list[str]:
    """Every string in a parsed YAML node, keys and values, at any depth."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings(key) + strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [node] if isinstance(node, str) else []


def seconds(duration: str) -> float:
    """A Compose or nginx duration: 30s, 1m30s, 75s, 500ms."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def megabytes(size: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    return int(number) * {"": 1 / 2**20, "k": 1 / 2**10, "m": 1, "g": 2**10}[unit.lower()]


@pytest.fixture(scope="module")
def webhook(compose: dict) -> dict:
    return compose["services"]["bot-webhook"]


@pytest.fixture(scope="module")
def proxy(compose: dict) -> dict:
    return compose["services"]["proxy"]


def test_plain_docker_compose_up_still_starts_the_polling_stack_only(compose: dict) -> None:
    services = compose["services"]
    started = {name for name, service in services.items() if not profiles(service)}
    assert started == DEFAULT_STACK
    assert "--webhook" not in (services["bot"].get("command") or []), "the default bot polls"
    production = {name for name, service in services.items() if "production" in profiles(service)}
    assert production == {"bot-webhook", "proxy"}


def test_the_profile_needs_no_variable_the_default_stack_does_without(compose: dict) -> None:
    # Compose interpolates every service, enabled or not: a ${NAME:?...} in a production service would stop
    # a plain `docker compose up` for everyone whose .env lacks NAME.
    services = compose["services"]
    default_needs = {name for s in DEFAULT_STACK for text in strings(services[s]) for name in
                     REQUIRED_VARIABLE.findall(text)}
    for name, service in services.items():
        if profiles(service):
            needs = {var for text in strings(service) for var in REQUIRED_VARIABLE.findall(text)}
            assert needs <= default_needs, f"{name} requires {sorted(needs - default_needs)} of every stack"


def test_the_webhook_runs_as_several_replicas_of_the_bot(compose: dict, webhook: dict) -> None:
    bot = compose["services"]["bot"]
    assert webhook["command"] == ["linli", "run", "--webhook"]
    assert webhook["deploy"]["replicas"] >= 2
    assert webhook.get("image") == bot["image"] and webhook.get("build") == bot["build"], "the same image"
    assert webhook["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    env, bot_env = environment(webhook), environment(bot)
    # One database and one Redis for all: locks, de-duplication and the outbox only work when shared.
    assert env["DATABASE_URL"] == bot_env["DATABASE_URL"] and env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["REDIS_URL"] == bot_env["REDIS_URL"] and env["REDIS_URL"].startswith("redis://")
    assert env["HTTP_HOST"] == "0.0.0.0", "reachable from the proxy, not only from inside its container"
    assert "ports" not in webhook, "only the proxy and the internal network reach the replicas"


def test_the_webhook_secret_and_url_come_from_env(webhook: dict) -> None:
    assert webhook["env_file"] == ".env"
    env = environment(webhook)
    for name in ("WEBHOOK_SECRET", "WEBHOOK_URL", "BOT_TOKEN"):
        # Not repeated in `environment` (where it could only be written inline or required of every stack).
        assert name not in env, f"bot-webhook.{name} must come from .env alone"
    assert not any("secret" in text.lower() for text in strings(env)), "no inline secret"


def test_a_replica_is_checked_over_http_and_given_time_to_stop(webhook: dict) -> None:
    port = environment(webhook)["HTTP_PORT"]
    assert webhook["healthcheck"]["test"] == ["CMD", "linli", "health", "--url", f"http://127.0.0.1:{port}/healthz"]
    assert seconds(webhook["healthcheck"]["start_period"]) >= 30
    assert webhook["stop_signal"] == "SIGTERM"
    assert seconds(webhook["stop_grace_period"]) >= 30, "time to finish the updates in hand"
    assert webhook.get("restart") == "unless-stopped"


def test_the_proxy_is_the_official_nginx_with_our_config_read_only(proxy: dict) -> None:
    major, minor = map(int, re.fullmatch(r"nginx:(\d+)\.(\d+)(?:\.\d+)?(?:-alpine)?", proxy["image"]).groups())
    assert (major, minor) >= (1, 27), "`server ... resolve` in nginx.conf needs nginx 1.27.3 or later"
    mounts = {volume["target"]: volume for volume in proxy["volumes"]}
    conf = mounts["/etc/nginx/nginx.conf"]
    assert conf["type"] == "bind" and conf["source"] == "./deploy/nginx.conf" and conf["read_only"] is True
    assert (ROOT / "deploy" / "nginx.conf").is_file()
    tls = mounts["/etc/nginx/tls"]
    assert tls["type"] == "bind" and tls["read_only"] is True
    assert VARIABLE_DEFAULT.fullmatch(tls["source"]).group(1) == "TLS_CERT_DIR"
    assert tls["bind"]["create_host_path"] is False, "a missing directory stops the proxy, no empty one is made"
    assert proxy["depends_on"]["bot-webhook"]["condition"] == "service_healthy"


def test_the_proxy_publishes_one_port_telegram_posts_to(proxy: dict) -> None:
    (mapping,) = proxy["ports"]
    host, container = str(mapping).rsplit(":", 1)
    assert container == "443"
    variable = VARIABLE_DEFAULT.fullmatch(host)
    default = variable.group(2) if variable else host
    assert default in TELEGRAM_PORTS


# --- deploy/nginx.conf ------------------------------------------------------------------------------------------

Directive = tuple[str, list[str], "list | None"]  # name, arguments, the block's directives (None: no block)


def parse_nginx(text: str) -> list[Directive]:
    """nginx's configuration syntax: directives ending in `;` or holding a `{ ... }` block."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[{};]|[^\s{};"\']+', re.sub(r"(?m)(^|\s)#.*$", r"\1", text))
    position = 0

    def block(nested: bool) -> list[Directive]:
        nonlocal position
        directives: list[Directive] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                directives.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                directives.append((words[0], words[1:], block(nested=True)))
                words = []
            elif token == "}":
                assert nested and not words, f"a brace closes nothing, or ends {words}"
                return directives
            else:
                words.append(token.strip("\"'") if token[0] in "\"'" else token)
        assert not nested and not words, "unclosed block or unfinished directive at the end"
        return directives

    top = block(nested=False)
    assert position == len(tokens), "unbalanced braces"
    return top


def find(directives: list[Directive], name: str) -> list[Directive]:
    return [d for d in directives if d[0] == name]


def args(directives: list[Directive], name: str) -> list[str]:
    (found,) = find(directives, name)
    return found[1]


def location_for(server: list[Directive], uri: str) -> list[Directive] | None:
    """The location block nginx picks for a URI: exact, then longest prefix (final with ^~), then regex in order."""
    exact, prefixes, regexes = {}, [], []
    for _, arguments, body in find(server, "location"):
        if arguments[0] == "=":
            exact[arguments[1]] = body
        elif arguments[0] in ("~", "~*"):
            regexes.append((re.compile(arguments[1], re.IGNORECASE if arguments[0] == "~*" else 0), body))
        elif arguments[0] == "^~":
            prefixes.append((arguments[1], True, body))
        else:
            prefixes.append((arguments[0], False, body))
    if uri in exact:
        return exact[uri]
    matching = sorted((p for p in prefixes if uri.startswith(p[0])), key=lambda p: len(p[0]), reverse=True)
    if matching and matching[0][1]:
        return matching[0][2]
    for pattern, body in regexes:
        if pattern.search(uri):
            return body
    return matching[0][2] if matching else None


@pytest.fixture(scope="module")
def nginx() -> list[Directive]:
    return parse_nginx((ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def http(nginx: list[Directive]) -> list[Directive]:
    (block,) = find(nginx, "http")
    return block[2]


@pytest.fixture(scope="module")
def public(http: list[Directive]) -> list[Directive]:
    """The server Telegram reaches: the one listening with TLS."""
    (server,) = [d[2] for d in find(http, "server") if any("ssl" in listen[1] for listen in find(d[2], "listen"))]
    return server


def webhook_path() -> str:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    url = re.search(r"^#? ?WEBHOOK_URL=(\S+)$", example, re.MULTILINE).group(1)
    assert url.startswith("https://")
    return "/" + url.removeprefix("https://").split("/", 1)[1]


def test_the_parser_reads_blocks_and_comments() -> None:
    parsed = parse_nginx('http { # a comment; {\n  server { listen 443 ssl; return 200 "a; b"; } }')
    assert parsed == [("http", [], [("server", [], [("listen", ["443", "ssl"], None), ("return", ["200", "a; b"], None)])])]
    for broken in ("http { server { listen 443;", "http { } }", "http { listen 443 }"):
        with pytest.raises(AssertionError):
            parse_nginx(broken)


def test_tls_ends_at_the_proxy_with_the_mounted_certificate(public: list[Directive], proxy: dict) -> None:
    listens = [d[1] for d in find(public, "listen")]
    assert listens == [["443", "ssl"]], "TLS on the port the compose file publishes"
    tls_dir = next(v["target"] for v in proxy["volumes"] if v["target"] != "/etc/nginx/nginx.conf")
    for name in ("ssl_certificate", "ssl_certificate_key"):
        (path,) = args(public, name)
        assert path.startswith(tls_dir + "/"), f"{name} is read from the mounted TLS_CERT_DIR"
    assert set(args(public, "ssl_protocols")) <= {"TLSv1.2", "TLSv1.3"}


def test_updates_go_round_robin_to_every_replica(http: list[Directive], webhook: dict) -> None:
    assert args(http, "resolver")[0] == "127.0.0.11", "Docker's DNS, which names every replica"
    (upstream,) = find(http, "upstream")
    name, body = upstream[1][0], upstream[2]
    (server,) = find(body, "server")
    assert server[1][0] == f"bot-webhook:{environment(webhook)['HTTP_PORT']}"
    assert "resolve" in server[1] and find(body, "zone"), "re-resolved, so a scaled or recreated replica is followed"
    balancing = {"hash", "ip_hash", "least_conn", "random", "sticky"} & {d[0] for d in body}
    assert not balancing, "round-robin (nginx's default) spreads the updates evenly"

    location = location_for(find(http, "server")[0][2], webhook_path())
    assert args(location, "proxy_pass") == [f"http://{name}"], "the path goes on unchanged, to the replicas"


def test_only_the_webhook_path_reaches_the_replicas(public: list[Directive]) -> None:
    path = webhook_path()
    location = location_for(public, path)
    assert location is not None and find(location, "proxy_pass")
    (limit,) = find(location, "limit_except")
    assert limit[1] == ["POST"] and limit[2] == [("deny", ["all"], None)], "Telegram only POSTs"
    for uri in ("/metrics", "/healthz", "/readyz", "/", "/metrics/", "/telegram-x", path + "/x", path.upper()):
        if uri == path:
            continue
        chosen = location_for(public, uri)
        assert chosen is None or not find(chosen, "proxy_pass"), f"{uri} would reach the replicas"
    forwarding = [d for d in find(public, "location") if find(d[2], "proxy_pass")]
    assert len(forwarding) == 1 and not find(public, "proxy_pass"), "one forwarding location, nothing server-wide"


def test_an_update_may_be_slow_but_is_small(public: list[Directive]) -> None:
    location = location_for(public, webhook_path())
    assert 1 <= megabytes(args(public, "client_max_body_size")[0]) <= 2
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        assert seconds(args(location, name)[0]) > 60, f"{name}: longer than the bot's slowest handling"


def test_an_update_is_retried_on_another_replica_only_when_it_failed_fast(public: list[Directive]) -> None:
    location = location_for(public, webhook_path())
    cases = set(args(location, "proxy_next_upstream"))
    # Not http_500/http_504: an update that failed or timed out inside a replica may be half handled.
    assert cases <= {"error", "timeout", "http_502", "http_503", "non_idempotent"}
    assert {"error", "http_503"} <= cases, "a replica that is down or shutting down hands over"
    assert "non_idempotent" in cases, "updates are POSTs; without it nginx never retries them"
    assert int(args(location, "proxy_next_upstream_tries")[0]) == 2
    # Within this window only: a read timeout (75 s) is never followed by a second try.
    assert seconds(args(location, "proxy_next_upstream_timeout")[0]) < seconds(args(location, "proxy_read_timeout")[0])
    assert seconds(args(location, "proxy_connect_timeout")[0]) <= 10


def test_the_proxy_healthcheck_listens_on_loopback_only(http: list[Directive], proxy: dict) -> None:
    url = proxy["healthcheck"]["test"][-1]
    host_port, path = re.fullmatch(r"http://([\d.:]+)(/\S*)", url).groups()
    (internal,) = [d[2] for d in find(http, "server") if [host_port] in [listen[1] for listen in find(d[2], "listen")]]
    assert host_port.startswith("127.0.0.1:"), "not reachable from outside the container"
    assert find(location_for(internal, path), "return")[0][1][0] == "200"
    for server in find(http, "server"):
        for _, listen, _ in find(server[2], "listen"):
            assert listen == ["443", "ssl"] or listen[0].startswith("127.0.0.1:"), f"an open listener: {listen}"
