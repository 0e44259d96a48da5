# The cxgov image: the `cxgov` CLI, run as `cxgov worker` by docker-compose.yml.
#   docker build -t cxgov .
#   docker run --rm cxgov --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Graphviz lays out the one-page governance diagram (`cxgov diagram`, the console's charter page).
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first (the ones pyproject.toml declares), so that code edits do not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(p['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

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
