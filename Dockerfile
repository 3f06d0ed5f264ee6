# syntax=docker/dockerfile:1
# vmo-operator image: `docker build -t vmo-operator:dev .`
#
# The builder turns the project and its dependencies, pinned transitively by constraints.txt, into
# wheels; the runtime installs only those wheels (no index), so the image holds what
# `pip install -c constraints.txt .` gives a user and no compiler, source tree or pip cache.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint constraints.txt .

FROM python:3.11-slim
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
# Bind-mount the wheels instead of copying them, so they never become an image layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/vmo_operator-*.whl
USER 65532:65532
ENTRYPOINT ["vmo"]
CMD ["run"]
