# The cxgov image: the `cxgov` CLI, run as `cxgov worker` by docker-compose.yml.
#   docker build -t cxgov .
#   docker run --rm cxgov --help
# Debian bookworm, the release requirements.lock is generated for (its wheels need glibc 2.28 or newer).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Graphviz lays out the one-page governance diagram (`cxgov diagram`, the console's charter page).
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so that code edits do not reinstall them: exactly the files requirements.lock pins and
# hashes (the runtime closure of pyproject.toml's dependencies, at the versions the tests ran with), so every
# build installs the same ones; pip refuses any file whose hash differs. Regenerate it with `make lock`.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

COPY pyproject.toml README.md ./

COPY cxgov ./cxgov
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY examples ./examples
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 cxgov \
    && mkdir -p /data /keys \
    && chown cxgov:cxgov /data /keys \
    && chmod 700 /keys

# The packages are installed into site-packages; the example charter and world stay under /app/examples.
ENV CXGOV_HOME=/data \
    CXGOV_CHARTER=/app/examples/charter.yaml \
    CXGOV_SANDBOX=/app/examples/sandbox.yaml

USER cxgov
VOLUME ["/data"]

ENTRYPOINT ["cxgov"]
CMD ["worker"]
