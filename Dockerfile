# darebot -- accountability coach for Slack and Discord.
#   docker build -t darebot .
#   docker run --rm -v darebot-data:/data --env-file .env darebot            # SQLite in /data
# See compose.yaml for the PostgreSQL set-up.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLCONFIGDIR=/tmp/matplotlib

RUN groupadd --system --gid 10001 darebot \
 && useradd --system --uid 10001 --gid darebot --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin darebot

WORKDIR /app

# Only what the package build needs (there is no .dockerignore; this keeps .venv, .git and
# local databases out of the image).  The code stays root-owned: the app cannot rewrite itself.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
COPY adapters ./adapters
RUN pip install --no-cache-dir .

# Create /data owned by the app user *before* declaring the volume, so a fresh named volume
# inherits that ownership.
RUN mkdir -p /data && chown darebot:darebot /data
VOLUME /data
ENV DAREBOT_DATABASE_URL=sqlite:////data/darebot.sqlite3

USER darebot

ENTRYPOINT ["darebot"]
CMD ["run"]
