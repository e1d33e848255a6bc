# syntax=docker/dockerfile:1
# akv-sidecar image: one uvicorn process, non-root, ready for a read-only root filesystem.
#   docker build -t akv-sidecar:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --read-only --tmpfs /tmp -v "$PWD/config.yaml:/etc/akv-sidecar/config.yaml:ro" akv-sidecar:0.1.0
# A clean checkout is enough: the jar stage builds the akv-sidecar-hadoop jar from jvm/ and the client in
# the image carries it, for the Kubernetes pod templates to copy onto Spark's classpath
# (`python -m akv_client hadoop-jar`). A jar left in client/akv_client/jars/ by `make jvm` is not used.
# The recipe below is exercised without Docker by tests/deploy/test_docker_recipe.py; the version in the
# tags and ARG VERSION is pyproject.toml's (tests/deploy/test_versions.py checks).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG MAVEN_IMAGE=maven:3.9.11-eclipse-temurin-17

# The Hadoop credential providers, as `make jvm` builds them (JDK 17: the pom's maven.compiler.release).
# Of the JUnit tests only VersionTest runs here: the jar must be named for pyproject.toml's version, which
# hadoop_jar() looks up and the pod templates mount; `make test` runs them all on the same sources.
# The cache mount keeps Maven's downloads between builds, out of the image.
FROM ${MAVEN_IMAGE} AS jar
WORKDIR /src
COPY pyproject.toml ./
COPY jvm/pom.xml jvm/
COPY jvm/src/ jvm/src/
RUN --mount=type=cache,target=/root/.m2/repository \
    mvn -B -ntp -f jvm/pom.xml -Dmaven.repo.local=/root/.m2/repository -Dtest=VersionTest package

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY deploy/docker/install.sh /usr/local/bin/akv-sidecar-install
# Dependencies in their own layer, exactly locks/service.txt (versions and hashes): rebuilt only when it changes.
COPY locks/service.txt locks/
RUN akv-sidecar-install deps /src /opt/akv-sidecar/venv
COPY pyproject.toml README.md ./
COPY service/ service/
COPY client/ client/
# Package data of the client (pyproject.toml's wheel artifacts): the wheel installed next carries it.
COPY --from=jar /src/jvm/target/akv-sidecar-hadoop-*.jar client/akv_client/jars/
COPY emulator/ emulator/
RUN akv-sidecar-install app /src /opt/akv-sidecar/venv

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="akv-sidecar" \
      org.opencontainers.image.description="Azure Key Vault secrets for Spark drivers: a caching sidecar" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.vendor="akv-sidecar developers" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
RUN useradd --no-log-init --system --uid 10001 --user-group \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin akv-sidecar
COPY --from=build /opt/akv-sidecar/venv /opt/akv-sidecar/venv
COPY deploy/docker/probe.py /opt/akv-sidecar/probe.py
# HOME points at /tmp, the one writable mount under a read-only root filesystem.
ENV PATH=/opt/akv-sidecar/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    AKV_SIDECAR_LISTEN__PORT=8787
WORKDIR /opt/akv-sidecar
USER 10001:10001
EXPOSE 8787
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "/opt/akv-sidecar/probe.py", "/healthz"]
ENTRYPOINT ["akv-sidecar", "serve"]
CMD ["--config", "/etc/akv-sidecar/config.yaml"]
