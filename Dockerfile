# darebot -- accountability coach for Slack and Discord.
#   docker build -t darebot .
#   docker run --rm -v darebot-data:/data --env-file .env -p 8080:8080 darebot      # SQLite in /data
# See compose.yaml for PostgreSQL, and docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# tini as PID 1: it forwards SIGTERM to darebot (which stops cleanly) and reaps children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 darebot \
 && useradd --system --uid 10001 --gid darebot --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin darebot

WORKDIR /app

# The pinned, hash-checked dependencies first (a layer that changes only with the lock), then darebot
# itself without dependencies: the same two steps as `make venv` and the suite's install smoke test.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md LICENSE alembic.ini ./
COPY bot ./bot
COPY storage ./storage
COPY adapters ./adapters
RUN pip install --no-deps . && rm -rf build *.egg-info

# Everything darebot writes lives in /data (owned by the app user before the volume is declared, so a
# fresh named volume inherits that ownership): the SQLite file, Discord's command hash, saved charts.
# The code stays root-owned: the app cannot rewrite itself.
RUN mkdir -p /data && chown darebot:darebot /data
VOLUME /data
ENV DAREBOT_DATABASE_URL=sqlite:////data/darebot.sqlite3 \
    DAREBOT_STATE_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/data
WORKDIR /data
USER darebot

# 3000: Slack HTTP mode (POST /slack/events); 8080: /healthz and /metrics in every mode.
EXPOSE 3000 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["tini", "--", "darebot"]
CMD ["run", "--health-port", "8080"]
