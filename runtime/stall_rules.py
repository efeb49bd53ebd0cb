"""When a worker counts as stalled: one rule for the worker's own watchdog, `previewd up`'s health
check, `previewd worker-health` (compose) and the web app's /readyz, so they never disagree."""

from __future__ import annotations

# Event-loop lag worth a WARNING with the loop's stack: something ran on the loop this long.
LAG_WARNING_SECONDS = 1.0
# A loop blocked this long is not coming back in time: every workflow task it holds has timed out
# (10 s) several times over, and every activity has missed its heartbeat.
LAG_STALL_SECONDS = 60.0
# Work started (a workflow activation, an activity) but nothing finished or heartbeated for this long.
# Longer than any of previewd's activities goes without a heartbeat or an answer (a GitHub report tries
# one call five times within its 1-minute limit), so a live worker never trips it.
PROGRESS_STALL_SECONDS = 180.0
# The worker writes its heartbeat every HEARTBEAT_SECONDS; older than STALE_SECONDS, nobody writes it.
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0


def stall(
    *,
    loop_lag: float,
    pending: int,
    since_progress: float,
    lag_limit: float = LAG_STALL_SECONDS,
    progress_limit: float = PROGRESS_STALL_SECONDS,
) -> str | None:
    """Why a worker with these numbers must be replaced, or None while it is fine."""
    if loop_lag >= lag_limit:
        return f"its event loop has been blocked for {loop_lag:.0f}s"
    if pending > 0 and since_progress >= progress_limit:
        return f"{pending} task(s) started but nothing completed for {since_progress:.0f}s"
    return None
