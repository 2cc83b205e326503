# syntax=docker/dockerfile:1
# The Vigil image: the `vigil` CLI and its workers, installed from this tree (`pip install .`).
#   docker build -t vigil:0.1.0 .
#   docker run --rm vigil:0.1.0 --help
# docker-compose.yml builds it and runs `vigil workers` next to Kafka and Elasticsearch.

# -- console: the web console's browser libraries (htmx, Chart.js, flatpickr), as locked ---------
FROM node:20-slim AS console
WORKDIR /console
COPY api/console/package.json api/console/package-lock.json ./
RUN npm ci --no-audit --no-fund

# -- build: install the project and its dependencies into a virtualenv ----------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/vigil
WORKDIR /src
# .dockerignore keeps out the local stack's jars (stack/lib), var/, tests and caches.
COPY . .
RUN /opt/vigil/bin/pip install .
# Vigil's Sigma rule pack is package data (detectors/rules/vigil): refuse an image built without it.
RUN test -n "$(ls /opt/vigil/lib/python3.11/site-packages/detectors/rules/vigil/*.yml)"
# The Sigma field view compiled by mypyc into the installed package (detectors/sigma/native.py); mypy
# and the compiler are build-time only.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
 && /opt/vigil/bin/pip install mypy \
 && /opt/vigil/bin/python scripts/build_native.py --root /opt/vigil/lib/python3.11/site-packages \
 && /opt/vigil/bin/pip uninstall -y mypy
# Served by the API from beside the installed console package (api/console/__init__.py: VENDOR).
COPY --from=console /console/node_modules /opt/vigil/lib/python3.11/site-packages/api/console/node_modules

# -- runtime: the virtualenv only, run by an unprivileged user ------------------------------------
FROM python:3.11-slim

ARG VIGIL_UID=10001
# PDF reports: WeasyPrint needs Pango; Chinese patrol records and evaluations need a CJK font.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid "${VIGIL_UID}" vigil \
 && useradd --system --uid "${VIGIL_UID}" --gid vigil --home-dir /var/lib/vigil --no-create-home \
        --shell /usr/sbin/nologin vigil \
 && install -d -o vigil -g vigil -m 0750 /var/lib/vigil

COPY --from=build /opt/vigil /opt/vigil

# VIGIL_DATA_DIR: worker state (checkpoints); docker-compose.yml mounts a named volume here.
ENV PATH=/opt/vigil/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIGIL_DATA_DIR=/var/lib/vigil

WORKDIR /var/lib/vigil
USER ${VIGIL_UID}:${VIGIL_UID}

# `vigil workers` stops cleanly on Ctrl-C (KeyboardInterrupt: both workers finish their batch and
# exit). SIGTERM has no handler in Python, so `docker stop` sends SIGINT instead.
STOPSIGNAL SIGINT
ENTRYPOINT ["vigil"]
CMD ["--help"]
