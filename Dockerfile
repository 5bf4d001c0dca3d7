# logflume as a sidecar container.
#
#   docker build -t logflume .
#   docker run -v /var/log/llm-proxy:/var/log/llm-proxy:ro \
#              -v ./logflume.yaml:/etc/logflume/logflume.yaml:ro \
#              -v logflume-state:/var/lib/logflume logflume
#
# The config is read from /etc/logflume/logflume.yaml (mount it); it should set
# `state_dir: /var/lib/logflume` (a volume: checkpoints and disk buffers must outlive the container).
# The health check (and the Kubernetes example's exec probes) ask the local endpoint on the default
# 127.0.0.1:9466 from inside the container: it need not listen on any other address.
# The image installs logflume[all]: every sink type and the analysis commands.

# -- build: the logflume wheel and wheels of its dependencies, every extra included ----------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY daemon ./daemon
# requirements.txt pins the wheel just built, with [all]: every sink and the analysis commands.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[all]" \
    && wheel="$(echo /wheels/logflume-*.whl)" \
    && version="${wheel#/wheels/logflume-}" \
    && echo "logflume[all]==${version%%-*}" > /wheels/requirements.txt

# -- runtime ----------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 logflume \
    && useradd --system --uid 10001 --gid logflume --home-dir /var/lib/logflume --no-create-home \
       --shell /usr/sbin/nologin logflume \
    && mkdir -p /var/lib/logflume /etc/logflume \
    && chown logflume:logflume /var/lib/logflume
# Only what the build stage made: no compiler, no network access needed here.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels --requirement /wheels/requirements.txt
USER 10001:10001
WORKDIR /var/lib/logflume
VOLUME ["/var/lib/logflume"]
EXPOSE 9466
# slim has no curl: urllib fails on a refused connection and on a 503 alike.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9466/healthz', timeout=4)"]
ENTRYPOINT ["logflume"]
CMD ["run", "-c", "/etc/logflume/logflume.yaml"]
