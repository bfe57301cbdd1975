# syntax=docker/dockerfile:1
# One image for every eldercare service; docker-compose.yml picks the subcommand
# (migrate, ingest, detect, alerts, serve).
FROM python:3.11.16-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# .dockerignore keeps the venv, tests, caches and secrets (.env, passwd) out of the context.
COPY . .
RUN pip install . && rm -rf /src

# Run as an unprivileged user with a home directory for the state directory.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/eldercare eldercare
USER 10001:10001
WORKDIR /home/eldercare

ENTRYPOINT ["eldercare"]
CMD ["--help"]
