# syntax=docker/dockerfile:1
# vmo-operator image: `docker build -t vmo-operator:dev .`
#
# Every third-party file that goes in is checked: the builder downloads the dependencies and the
# build backend with --require-hashes against requirements.lock (generated from constraints.txt by
# `make lock`), builds the project's own wheel without build isolation (so nothing unhashed is
# fetched), and the runtime installs only those wheels (no index), so the image holds what
# `pip install -c constraints.txt .` gives a user and no compiler, source tree or pip cache.
#
# The base image. Pin it by digest for a release build, where a registry is reachable:
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> .
# (or write that value below). It is not pinned in the repository because no registry is reachable
# from the machines this project is developed on, so a digest written here could not be checked
# to exist; a wrong one would break every build. tests/packaging/test_dockerfile.py accepts the tag
# or the tag with a digest.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock \
 && pip wheel --no-cache-dir --require-hashes --no-deps --wheel-dir /wheels -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="vmo-operator" \
      org.opencontainers.image.description="Kubernetes operator for a KubeVirt VM platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode is compiled at install time; at run time the root filesystem is read-only.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A fixed numeric UID, so Kubernetes can verify runAsNonRoot without resolving names.
RUN groupadd --system --gid 65532 vmo \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin vmo
# Bind-mount the wheels instead of copying them, so they never become an image layer. Only the
# project's wheel and what it depends on are installed (not the build backend).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/vmo_operator-*.whl
USER 65532:65532
ENTRYPOINT ["vmo"]
CMD ["run"]
