# One image for every Tradebus process: `docker run tradebus <service>` runs `tradebus run <service>`
# (marketdata, signals, execution, portfolio, gateway, sim; see tradebus/cli.py: TARGETS).
# Build: docker build -t tradebus .

# -- build: a virtualenv with the package and its pinned dependencies ---------------------------
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tradebus
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY tradebus ./tradebus
COPY services ./services
RUN /opt/tradebus/bin/pip install . \
    # the embedded-stack binaries are for `tradebus up` on a laptop, never used in a container
    && rm -rf /opt/tradebus/lib/python3.12/site-packages/pgserver/pginstall \
    && find /opt/tradebus -name '__pycache__' -prune -exec rm -rf {} +

# -- run: the slim base, the virtualenv, a non-root user; no compiler, no pip cache -------------
FROM python:3.12-slim
LABEL org.opencontainers.image.title="tradebus" \
      org.opencontainers.image.description="Many algorithmic trading strategies, one exchange account, small services over NATS." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/tradebus/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRADEBUS_LOG_JSON=true \
    TRADEBUS_METRICS_HOST=0.0.0.0 \
    TRADEBUS_METRICS_PORT=9100 \
    TRADEBUS_STRATEGIES_FILE=/app/config/strategies.yaml
RUN groupadd --system --gid 10001 tradebus \
    && useradd --system --uid 10001 --gid tradebus --home-dir /app --shell /usr/sbin/nologin tradebus \
    # marketdata's Parquet history (a volume in compose): owned by the app user before mounting
    && mkdir -p /data/history && chown 10001:10001 /data/history \
    && pip uninstall -y pip setuptools wheel >/dev/null 2>&1 || true
COPY --from=build /opt/tradebus /opt/tradebus
WORKDIR /app
COPY --chown=root:root config ./config
COPY --chown=root:root examples ./examples
USER 10001:10001
EXPOSE 9100 8000 8100
ENTRYPOINT ["tradebus", "run"]
CMD ["gateway"]
