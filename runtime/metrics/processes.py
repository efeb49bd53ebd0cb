"""The /metrics endpoint of each process: the web app's (previewd's counters plus the Postgres
figures) and the worker's (previewd's counters plus the Temporal SDK's, merged into one text)."""

from __future__ import annotations

import socket

from prometheus_client import REGISTRY
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from config import Settings
from models.db import Database
from runtime.metrics.endpoint import MetricsServer, metrics_app
from runtime.metrics.postgres_figures import PostgresFigures


def _token(settings: Settings) -> str | None:
    token = settings.previewd_metrics_token
    return token.get_secret_value() if token else None


def web_metrics(settings: Settings, db: Database) -> MetricsServer | None:
    """Once per process (the Postgres figures join the process-wide registry); None when off."""
    if not settings.previewd_metrics_port:
        return None
    figures = PostgresFigures(db)
    REGISTRY.register(figures)
    app = metrics_app(token=_token(settings), refreshers=[figures.refresh])
    return MetricsServer(app, settings.previewd_metrics_bind, settings.previewd_metrics_port)


def temporal_runtime(settings: Settings) -> tuple[Runtime | None, str | None]:
    """A Temporal runtime exporting the SDK's metrics (workflow and activity task latencies, poll
    results, sticky cache...) on a loopback port nobody else needs to know: the worker's /metrics
    fetches them at each scrape and appends them to its own, so one target carries both, behind the
    same bind and token. (None, None) when the worker's metrics are off."""
    if not settings.previewd_worker_metrics_port:
        return None, None
    # A port free now; Temporal's core binds it right after (a race only another process starting
    # in the same instant could lose).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = PrometheusConfig(
        bind_address=f"127.0.0.1:{port}", counters_total_suffix=True, durations_as_seconds=True
    )
    return Runtime(telemetry=TelemetryConfig(metrics=config)), f"http://127.0.0.1:{port}/metrics"


def worker_metrics(settings: Settings, temporal_metrics_url: str | None) -> MetricsServer | None:
    if not settings.previewd_worker_metrics_port:
        return None
    extra = [temporal_metrics_url] if temporal_metrics_url else []
    app = metrics_app(token=_token(settings), extra_sources=extra)
    return MetricsServer(app, settings.previewd_metrics_bind, settings.previewd_worker_metrics_port)
