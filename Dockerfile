# Slim, non-root image of the Linli bot. Migrations run as a separate step:
#   docker compose run --rm migrate
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md alembic.ini babel.cfg ./
COPY bot ./bot
COPY handlers ./handlers
COPY models ./models
COPY migrations ./migrations
COPY locales ./locales

RUN pip install -e . \
    && python -m bot i18n compile \
    && useradd --system --uid 10001 --home-dir /app linli \
    && mkdir -p /data && chown linli /data

USER linli
ENV DATABASE_URL=sqlite+aiosqlite:////data/linli.sqlite3
VOLUME ["/data"]
STOPSIGNAL SIGINT
CMD ["linli", "run"]
