# Anna's Gift gateway. Build: docker build -t annas-gift .
# Run:   docker run -p 8000:8000 -e ANNAS_GIFT_API_KEY=sk-... -e GROQ_API_KEY=... annas-gift
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt ./
# Hash-checked install of the exact locked set, into a venv we copy whole into the runtime image.
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY annas_gift ./annas_gift
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 annas
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY litellm_config.yaml ./
RUN mkdir -p /app/data && chown annas /app/data
USER annas
ENV PATH=/opt/venv/bin:$PATH \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    PYTHONUNBUFFERED=1 \
    ANNAS_GIFT_SERVER__HOST=0.0.0.0 \
    ANNAS_GIFT_STORAGE__DATABASE_URL=sqlite+aiosqlite:////app/data/annas_gift.db \
    ANNAS_GIFT_STORAGE__SPOOL_PATH=/app/data/usage-spool.jsonl \
    ANNAS_GIFT_AUTH__KEY_FILE=/app/data/annas_gift.key
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"
CMD ["annas-gift", "serve", "--port", "8000"]
