# previewd: one image for the `migrate`, `web` and `worker` services of docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# git: builds clone the pull request's repository. ca-certificates: HTTPS to GitHub and Fly.
# curl: fetches flyctl below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# flyctl builds a preview's image on Fly's remote builders (activities/fly/image.py). A pinned release,
# checked against the sha256 its release publishes in checksums.txt, for
# flyctl_${FLYCTL_VERSION}_Linux_x86_64.tar.gz. A new version changes both ARGs together.
# FLYCTL_SHA256 is left empty on purpose: no copy of that release's checksums.txt could be read
# where this was written, and a checksum is never guessed. Until it is filled in here (or given with
# `docker compose build --build-arg FLYCTL_SHA256=...`), the build stops and says so.
ARG FLYCTL_VERSION=0.4.55
ARG FLYCTL_SHA256=
RUN test -n "${FLYCTL_SHA256}" \
        || { echo "FLYCTL_SHA256 is not set: copy the sha256 of flyctl_${FLYCTL_VERSION}_Linux_x86_64.tar.gz from https://github.com/superfly/flyctl/releases/download/v${FLYCTL_VERSION}/checksums.txt" >&2; exit 1; } \
    && curl --fail --silent --show-error --location --proto '=https' --output /tmp/flyctl.tar.gz \
        "https://github.com/superfly/flyctl/releases/download/v${FLYCTL_VERSION}/flyctl_${FLYCTL_VERSION}_Linux_x86_64.tar.gz" \
    && echo "${FLYCTL_SHA256}  /tmp/flyctl.tar.gz" | sha256sum -c - \
    && tar -xzf /tmp/flyctl.tar.gz -C /usr/local/bin flyctl \
    && ln -s flyctl /usr/local/bin/fly \
    && rm /tmp/flyctl.tar.gz \
    && flyctl version

RUN groupadd --system --gid 10001 previewd \
    && useradd --system --uid 10001 --gid previewd --home-dir /home/previewd --create-home \
        --shell /usr/sbin/nologin previewd \
    && mkdir -p /var/lib/previewd \
    && chown previewd:previewd /var/lib/previewd

WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir . \
    && rm -rf /app/build

# Inside a container the servers must listen on every interface; data lives on a volume.
ENV PREVIEWD_WEB_HOST=0.0.0.0 \
    PREVIEWD_DATA_DIR=/var/lib/previewd

USER previewd
# 8000: dashboard, API and webhooks. 8080: reverse proxy in front of previews.
EXPOSE 8000 8080

CMD ["previewd", "web"]
