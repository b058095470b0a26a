# Slim, non-root image of the Linli bot. Migrations run as a separate step
# (the compose file's `migrate` service): docker compose run --rm migrate
#
# Two stages: the builder turns the dependencies named in pyproject.toml into wheels
# before any source is copied, so editing the code rebuilds only the last layers.
# The emulator (tgemu), the tests and the benchmarks never enter the image.

FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml ./
# The runtime dependencies, read from pyproject.toml, plus what installing the project needs.
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > requirements.txt \
    && pip wheel --wheel-dir /wheels -r requirements.txt \
    && pip wheel --wheel-dir /wheels/build "setuptools>=69" wheel


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A CJK TrueType font for certificates (embedded, as a subset, in each PDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --home-dir /app linli \
    && mkdir -p /data && chown linli /data

# Dependencies: one cached layer, rebuilt only when the builder's wheels change. The wheels
# are mounted, not copied, so they take no room in the image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels /wheels/*.whl

WORKDIR /app
COPY pyproject.toml README.md alembic.ini babel.cfg ./
COPY bot ./bot
COPY handlers ./handlers
COPY models ./models
COPY migrations ./migrations
COPY locales ./locales

# Installed in place (no network: the build backend comes from the builder's wheels)
# because Linli finds alembic.ini, migrations/ and locales/ beside its sources.
RUN --mount=type=bind,from=builder,source=/wheels/build,target=/wheels \
    pip install --no-index --find-links /wheels --no-deps -e . \
    && python -m bot i18n compile

USER linli
ENV DATABASE_URL=sqlite+aiosqlite:////data/linli.sqlite3 \
    HEARTBEAT_FILE=/tmp/linli-heartbeat
VOLUME ["/data"]
STOPSIGNAL SIGINT
# Alive = polled Telegram within the last minute (see `linli health --help`).
# Webhook mode (linli run --webhook) listens on HTTP_PORT, 8080 by default: the webhook, /healthz, /readyz, /metrics.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["linli", "health"]
CMD ["linli", "run"]
