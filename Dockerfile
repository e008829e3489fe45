# syntax=docker/dockerfile:1
# MimicDB as a sidecar: the proxy alone, configured entirely by MIMICDB_* variables.
#   docker build -t mimicdb .
#   docker run -p 127.0.0.1:7480:7480 -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY mimicdb
# With Redis as the index, use docker-compose.yml.

# Build stage: a wheel of the project (and nothing else: no compiler is needed,
# every dependency ships manylinux wheels).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY mimicdb ./mimicdb
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data --create-home --shell /usr/sbin/nologin mimicdb

# Defaults for a container: listen on every interface, the index in the /data volume
# (docker-compose.yml points MIMICDB_BACKEND at Redis instead), logs as JSON lines.
ENV MIMICDB_LISTEN=0.0.0.0:7480 \
    MIMICDB_BACKEND=sqlite:////data/mimicdb.db \
    MIMICDB_UPSTREAM=https://s3.amazonaws.com \
    MIMICDB_REGION=us-east-1 \
    MIMICDB_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1

USER mimicdb
WORKDIR /data
VOLUME ["/data"]
EXPOSE 7480

# Ready means the index answers (503 otherwise). The probe signs its request with the
# proxy's own key pair (the admin API checks signatures) and follows MIMICDB_LISTEN;
# Python, not curl: the slim image has no curl, and this adds nothing to it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "proxy.healthcheck"]

ENTRYPOINT ["mimicdb-proxy"]
CMD ["serve"]
