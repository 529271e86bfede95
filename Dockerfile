# coursebot: installs from the same project files as the README (pyproject.toml + constraints.txt).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COURSEBOT_DB=/data/coursebot.db \
    COURSEBOT_CONTENT=/app/content

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
RUN python -m pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 coursebot \
    && mkdir /data \
    && chown coursebot:coursebot /data
COPY content ./content

USER 10001
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 CMD ["coursebot", "health"]
CMD ["coursebot"]
