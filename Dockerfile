# unpod-etl: the `unpod-etl` command in a small image. Build: docker build -t unpod-etl .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the wheel needs (.dockerignore keeps tests, venvs and databases out).
WORKDIR /build
COPY pyproject.toml README.md ./
COPY unpod_etl ./unpod_etl
COPY migrations ./migrations
RUN pip install . && rm -rf /build

# Never run as root: the job only needs the network and its database.
RUN useradd --create-home --uid 10001 --user-group etl
USER etl
WORKDIR /home/etl

ENTRYPOINT ["unpod-etl"]
CMD ["--help"]
