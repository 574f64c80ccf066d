# tossd in a container: a wheel built in one stage, installed into a slim non-root runtime.
#
#   docker build -t tossd .
#   docker run -d --name tossd \
#     -v "$PWD/tossd.toml:/etc/tossd/tossd.toml:ro" \
#     -v tossd-state:/var/lib/tossd \
#     -e TOSSD_API_KEY=... \
#     tossd
#
# The key comes from $TOSSD_API_KEY, or from a secret named api_key (Compose/Swarm mount it
# at /run/secrets/api_key, which $CREDENTIALS_DIRECTORY points at), or from the config file.
# `docker exec tossd tossd events` and the other commands work inside the container.

# Both stages start from it: any Debian-like image with python3 >= 3.11 and pip.
# tests/packaging passes a Debian 12 image made locally (it has no registry to pull from).
ARG BASE_IMAGE=python:3.11-slim
# Optional extras baked in: `--build-arg EXTRAS=postgres` for a PostgreSQL store (several
# nodes sharing it, see README "High availability"). Empty: SQLite only.
ARG EXTRAS=

FROM ${BASE_IMAGE} AS build
ARG EXTRAS
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tossd ./tossd
# Wheels of tossd and of every dependency: the runtime installs offline from these.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}"

FROM ${BASE_IMAGE} AS runtime
ARG EXTRAS
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A fixed uid, so a volume keeps its owner across rebuilds and Kubernetes' runAsNonRoot
# can check the numeric USER below.
RUN groupadd --system --gid 10001 tossd \
    && useradd --system --uid 10001 --gid tossd --home-dir /var/lib/tossd \
       --shell /usr/sbin/nologin tossd \
    && mkdir -p /var/lib/tossd /etc/tossd \
    && chown tossd:tossd /var/lib/tossd \
    && chmod 0700 /var/lib/tossd
# A bind mount rather than COPY: the wheels never become a layer of the image.
# DL3013 (pin versions) does not apply: --no-index installs the one tossd wheel built above,
# and its dependencies were resolved once, in the build stage, into the same directory.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "tossd${EXTRAS:+[$EXTRAS]}"
ENV TOSSD_CONFIG=/etc/tossd/tossd.toml \
    STATE_DIRECTORY=/var/lib/tossd \
    CREDENTIALS_DIRECTORY=/run/secrets
USER 10001:10001
WORKDIR /var/lib/tossd
VOLUME ["/var/lib/tossd"]
# Only when the config says [health] listen = "0.0.0.0:9187" (127.0.0.1 is the container's own).
EXPOSE 9187
# The same facts as /healthz, read from the store: works with the HTTP server off.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["tossd", "health"]
ENTRYPOINT ["tossd"]
CMD ["run"]
