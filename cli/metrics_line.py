"""The line `previewd up` prints about where Prometheus scrapes previewd (README "Metrics and
Insights")."""

from __future__ import annotations

from config import Settings


def metrics_line(settings: Settings) -> str | None:
    bind = settings.previewd_metrics_bind
    host = f"[{bind}]" if ":" in bind else bind
    urls = [
        f"http://{host}:{port}/metrics ({what})"
        for port, what in (
            (settings.previewd_metrics_port, "web"),
            (settings.previewd_worker_metrics_port, "worker + Temporal SDK"),
        )
        if port
    ]
    if not urls:
        return None
    token = "; bearer token: PREVIEWD_METRICS_TOKEN" if settings.previewd_metrics_token else ""
    return f"metrics     {', '.join(urls)}{token}"
