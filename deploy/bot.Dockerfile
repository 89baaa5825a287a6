# One tenant's bot: `basis-bot serve` (the bot loop and its dashboard API), as UID 1000.
#
# Build context is deploy/ (the wheelhouse is all it needs; see deploy/wheelhouse.sh):
#   docker build -f deploy/bot.Dockerfile -t basis/bot:0.1.0 deploy
# Offline, on the debootstrap base (deploy/base-image.sh):
#   docker build --build-arg BASE_IMAGE=basis/base:bookworm -f deploy/bot.Dockerfile -t basis/bot:0.1.0 deploy
# The runtime (orchestrator/runtimes/docker.py) runs it read-only with /tmp on tmpfs and the tenant's
# volume at /data, so nothing here may need to write outside those two.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# Labels mark this project's images, so `docker image prune --filter label=basis.image` drops
# the build stages and superseded builds left dangling, and nothing else.
LABEL basis.image=build
COPY wheelhouse/ /wheels/
# --no-index: only the wheelhouse, never a package index (none is reachable where this is built).
# `basis-bot`: the bot's packages and their dependencies only, never the control plane, the devnet or
# their libraries (deploy/bot_package.py). pip byte-compiles as it installs, so the read-only root
# never needs a __pycache__ written.
RUN python3 -m venv /opt/basis \
 && /opt/basis/bin/python -m pip install --no-cache-dir --no-index --find-links /wheels basis-bot \
 && /opt/basis/bin/python -m pip uninstall --yes pip \
 && /opt/basis/bin/basis-bot --help >/dev/null

FROM ${BASE_IMAGE}
LABEL basis.image=bot
# A named volume mounted on /data starts as a copy of this folder, so it belongs to UID 1000 too.
RUN useradd --uid 1000 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin basis \
 && mkdir -p /data && chown 1000:1000 /data && chmod 0700 /data
COPY --from=build /opt/basis /opt/basis
ENV PATH=/opt/basis/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/data \
    BASIS_DATA_DIR=/data \
    BASIS_API_HOST=0.0.0.0 \
    BASIS_API_PORT=8080 \
    BASIS_LOG_JSON=true
USER 1000:1000
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# No curl in a slim image: bash's /dev/tcp asks /health (no token needed there); a python3 per check
# cost three times the CPU. The docker and swarm runtimes set the same check on every bot they start.
HEALTHCHECK --interval=60s --timeout=3s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${BASIS_API_PORT:-8080}\" && printf 'GET /health HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && read -r -t 2 status <&3 && [[ \"$status\" == \"HTTP/1.\"?\" 200 \"* ]]"]
ENTRYPOINT ["basis-bot"]
CMD ["serve"]
