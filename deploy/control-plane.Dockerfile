# The control plane (`basis serve`), with the devnet in the same image (`basis devnet up`), as UID 1000.
#
# Build context is deploy/ (see deploy/wheelhouse.sh):
#   docker build -f deploy/control-plane.Dockerfile -t basis/control-plane:0.1.0 deploy
# Offline: add --build-arg BASE_IMAGE=basis/base:bookworm (deploy/base-image.sh).
# Its database and the process runtime's tenants live under /data (a volume). It installs everything
# (`basis` with the control plane's and the devnet's extras): its process runtime runs bots itself.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# Labels mark this project's images, so `docker image prune --filter label=basis.image` drops
# the build stages and superseded builds left dangling, and nothing else.
LABEL basis.image=build
COPY wheelhouse/ /wheels/
RUN python3 -m venv /opt/basis \
 && /opt/basis/bin/python -m pip install --no-cache-dir --no-index --find-links /wheels 'basis[control-plane,devnet]' \
 && /opt/basis/bin/python -m pip uninstall --yes pip \
 && /opt/basis/bin/basis --help >/dev/null

FROM ${BASE_IMAGE}
LABEL basis.image=control-plane
RUN useradd --uid 1000 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin basis \
 && mkdir -p /data/control /data/tenants && chown -R 1000:1000 /data && chmod 0700 /data
COPY --from=build /opt/basis /opt/basis
ENV PATH=/opt/basis/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/data \
    BASIS_CP_HOST=0.0.0.0 \
    BASIS_CP_PORT=8000 \
    BASIS_CP_DATABASE_URL=sqlite:////data/control/control.sqlite3 \
    BASIS_CP_DATA_ROOT=/data/tenants \
    BASIS_LOG_JSON=true
USER 1000:1000
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
  CMD python3 -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BASIS_CP_PORT', '8000') + '/health', timeout=2)"
ENTRYPOINT ["basis"]
CMD ["serve"]
