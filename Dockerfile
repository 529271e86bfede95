# coursebot: installs what running needs from the hashed run lock (requirements.lock, `make lock`), every
# package checked against its hash, then the project itself without dependencies.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COURSEBOT_DB=/data/coursebot.db \
    COURSEBOT_CONTENT=/app/content

WORKDIR /app
COPY requirements.lock ./
RUN python -m pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python -m pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 coursebot \
    && mkdir /data \
    && chown coursebot:coursebot /data
COPY content ./content

USER 10001
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 CMD ["coursebot", "health"]
CMD ["coursebot"]
