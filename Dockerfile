# previewd: one image for the `migrate`, `web` and `worker` services of docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# git: builds clone the pull request's repository. ca-certificates: HTTPS to GitHub and Fly.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

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
