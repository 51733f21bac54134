# Production image: one image, two roles (`hitl serve` and `hitl worker`), run as a non-root user.
# PostgreSQL and Redis are external here (HITL_DATABASE_URL / HITL_REDIS_URL); see docker-compose.yml.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY worker ./worker
COPY ui ./ui
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HITL_HOST=0.0.0.0 HITL_PORT=8000 HITL_STATE_DIR=/tmp/hitl
RUN groupadd --system hitl && useradd --system --gid hitl --home-dir /app --shell /usr/sbin/nologin hitl
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The source tree beside the installed package: migrations/ and policies/ are read from /app.
COPY --chown=hitl:hitl alembic.ini ./
COPY --chown=hitl:hitl migrations ./migrations
COPY --chown=hitl:hitl policies ./policies
USER hitl
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["hitl", "serve"]
