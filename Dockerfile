# Anna's Gift gateway. Build: docker build -t annas-gift .
# Run:   docker run -p 8000:8000 -e ANNAS_GIFT_API_KEY=sk-... -e GROQ_API_KEY=... annas-gift
# Try it offline: docker run -p 8000:8000 -e ANNAS_GIFT_API_KEY=sk-demo annas-gift annas-gift serve --demo
# BASE: any image with Python 3.11 and its venv module (scripts/container-test builds on a
# debootstrapped Debian bookworm, since it cannot pull python:3.11-slim). HEALTHCHECK needs the
# docker image format: podman build --format docker.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt ./
# Hash-checked install of the exact locked set, into a venv we copy whole into the runtime image.
# --no-deps: the lock is the whole closure, so nothing is resolved again (an older pip, such as
# Debian bookworm's 23.0, otherwise treats a dependency's extra, litellm's httpx[http2], as a
# second, unpinned requirement and refuses the hash-checked install).
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-deps --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY annas_gift ./annas_gift
RUN /opt/venv/bin/pip install --no-deps .

FROM ${BASE}
RUN useradd --create-home --uid 10001 annas
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY litellm_config.yaml ./
RUN mkdir -p /app/data && chown annas /app/data
USER annas
# The port is a setting, not a CMD flag, so `-e ANNAS_GIFT_SERVER__PORT=...` moves the server
# and the health check together.
ENV PATH=/opt/venv/bin:$PATH \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    PYTHONUNBUFFERED=1 \
    ANNAS_GIFT_SERVER__HOST=0.0.0.0 \
    ANNAS_GIFT_SERVER__PORT=8000 \
    ANNAS_GIFT_STORAGE__DATABASE_URL=sqlite+aiosqlite:////app/data/annas_gift.db \
    ANNAS_GIFT_STORAGE__SPOOL_PATH=/app/data/usage-spool.jsonl \
    ANNAS_GIFT_AUTH__KEY_FILE=/app/data/annas_gift.key
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:${ANNAS_GIFT_SERVER__PORT:-8000}/health', timeout=2).status != 200)"
CMD ["annas-gift", "serve"]
