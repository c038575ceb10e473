# syntax=docker/dockerfile:1.7
# The BobaKu platform image: the gateway, the hub and every domain service, one command
# each (the chart and the operator set it). Built from the repository root:
#   docker build -f docker/platform.Dockerfile -t ghcr.io/bobaku/bobaku-platform:0.1.0 .
# The same steps as scripts/k8s/images.sh (the local cluster's images, made without
# Docker from a debootstrap rootfs): Debian bookworm with its python3 and python3-venv,
# every pin of constraints.txt hash-checked into /opt/bobaku, our wheel, the development
# tools dropped, user 10001. CI may pin the base's digest
# (--build-arg BASE_IMAGE=debian:bookworm-slim@sha256:...).
ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------- build ---
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python3 -m venv /opt/bobaku
# Every package and its hash from constraints.txt (the same pins as `make install`).
COPY constraints.txt pyproject.toml README.md scripts/k8s/debian-python.txt ./
# debian-python.txt: the one extra pin Debian's python 3.11.2 needs (async-timeout for redis).
RUN cat constraints.txt debian-python.txt >requirements.txt \
 && /opt/bobaku/bin/pip install --require-hashes -r requirements.txt
# The code lives in the top-level folders; src/bobaku/ links them into one package, and
# setuptools follows the links when it builds the wheel.
COPY src ./src
COPY kernel ./kernel
COPY services ./services
COPY hub ./hub
COPY operator ./operator
RUN /opt/bobaku/bin/pip install --no-deps --no-build-isolation .
COPY docker/strip_dev.py /tmp/strip_dev.py
# The development tools (pytest, ruff, mypy, ...) were pinned with the rest; drop them.
RUN /opt/bobaku/bin/python /tmp/strip_dev.py pyproject.toml | xargs -r /opt/bobaku/bin/pip uninstall -y \
 && /opt/bobaku/bin/python -c "import bobaku.kernel, bobaku.services.gateway"

# -------------------------------------------------------------------------- runtime ---
FROM ${BASE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 bobaku \
 && useradd --system --uid 10001 --gid bobaku --no-create-home --shell /usr/sbin/nologin bobaku
COPY --from=build /opt/bobaku /opt/bobaku
# PYTHONSAFEPATH: `python -m` never puts the working directory on sys.path.
ENV PATH=/opt/bobaku/bin:$PATH \
    PYTHONSAFEPATH=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
CMD ["python", "-m", "bobaku.services.gateway"]
