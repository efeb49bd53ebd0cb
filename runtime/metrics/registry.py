"""Every metric previewd itself exports, in one place (one vocabulary, like workflows/vocabulary.py).

They live in prometheus_client's default registry, so each process also exports its own process_*
and python_* figures. Label values are bounded: a project's id (not its name, which may change), a
step name from the builders, an HTTP status code, an outcome from an enum; never a URL or a sha.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Seconds, for things a person waits on: a webhook's answer, a build's steps, a build's queue.
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

# Web app.
WEBHOOK_ACK_SECONDS = Histogram(
    "previewd_webhook_ack_seconds",
    "Time from a webhook's arrival to previewd's answer to GitHub, by HTTP status",
    ["status"],
    buckets=FAST_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "previewd_webhook_deliveries_total",
    "Webhook deliveries by what the web app made of them (queued, ignored, applied, duplicate, rejected)",
    ["outcome"],
)
PROXY_REQUESTS = Counter(
    "previewd_proxy_requests_total",
    "Requests and WebSockets through the previews' proxy, by kind and answered status",
    ["kind", "status"],
)

# Worker: the outbox dispatcher.
OUTBOX_LAG_SECONDS = Histogram(
    "previewd_outbox_lag_seconds",
    "Time from a delivery's recording to Temporal accepting its signal",
    buckets=FAST_BUCKETS,
)
OUTBOX_DISPATCHES = Counter(
    "previewd_outbox_dispatches_total",
    "Outbox rows by what the dispatcher did (dispatched, no_workflow, set_aside, failed: sent again later)",
    ["outcome"],
)

# Worker: deployments.
STEP_SECONDS = Histogram(
    "previewd_step_seconds",
    "A deployment's steps (clone, install, build, release, start...) by project",
    ["project", "step"],
    buckets=SLOW_BUCKETS,
)
QUEUE_SECONDS = Histogram(
    "previewd_queue_seconds",
    "Time from a deployment's creation to its build starting, by project",
    ["project"],
    buckets=SLOW_BUCKETS,
)
BUILD_SECONDS = Histogram(
    "previewd_build_seconds",
    "Time from a build's start to its deployment going live or failing, by project",
    ["project"],
    buckets=SLOW_BUCKETS,
)
DEPLOYMENTS = Counter(
    "previewd_deployments_total",
    "Deployments by project and outcome (active: went live, or the final status it reached)",
    ["project", "outcome"],
)

# Both: calls to the APIs previewd depends on.
API_CALLS = Counter(
    "previewd_api_calls_total",
    "Calls to the GitHub and Fly APIs by answered status (error: no answer at all)",
    ["api", "status"],
)
