"""The /metrics endpoint (runtime/metrics/endpoint.py) and the proxy's status counter, as ASGI apps."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from cli.metrics_line import metrics_line
from config import Settings
from runtime.metrics.endpoint import MetricsServer, metrics_app
from runtime.metrics.labels import status_label
from web.proxy.status_counter import StatusCounter


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class _TemporalLike(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"# TYPE temporal_request_total counter\ntemporal_request_total 3\n"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Trickling(BaseHTTPRequestHandler):
    """A source that answers a byte at a time, each within any per-read timeout, for ever."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("content-length", "1000000")
        self.end_headers()
        for _ in range(60):
            self.wfile.write(b"#")
            self.wfile.flush()
            time.sleep(0.5)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[HTTPServer, str]:
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/metrics"


@pytest.fixture
def temporal_like() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _TemporalLike)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()


def test_the_token_is_required_when_set() -> None:
    client = TestClient(metrics_app(token="s3cret"))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200 and "previewd_webhook_deliveries_total" in answer.text
    assert "s3cret" not in answer.text


def test_other_sources_are_appended_and_a_failing_refresh_still_answers(temporal_like: str) -> None:
    refreshed: list[int] = []

    async def works() -> None:
        refreshed.append(1)

    async def fails() -> None:
        raise RuntimeError("Postgres is down")

    app = metrics_app(
        token=None, refreshers=[fails, works], extra_sources=[temporal_like, "http://127.0.0.1:9/"]
    )
    answer = TestClient(app).get("/metrics")
    assert answer.status_code == 200 and refreshed == [1]
    assert "temporal_request_total 3" in answer.text and "python_info" in answer.text


def test_a_trickling_source_cannot_hold_the_scrape(temporal_like: str) -> None:
    server, trickling = _serve(_Trickling)
    try:
        began = time.monotonic()
        answer = TestClient(metrics_app(token=None, extra_sources=[trickling, temporal_like])).get("/metrics")
        took = time.monotonic() - began
    finally:
        server.socket.close()
    assert answer.status_code == 200 and "temporal_request_total 3" in answer.text
    assert took < 4, f"the scrape took {took:.1f}s"


def test_a_slow_refresh_leaves_the_last_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runtime.metrics.endpoint.REFRESH_TIMEOUT_SECONDS", 0.5)

    async def stuck() -> None:
        await asyncio.sleep(30)

    began = time.monotonic()
    answer = TestClient(metrics_app(token=None, refreshers=[stuck])).get("/metrics")
    assert answer.status_code == 200 and time.monotonic() - began < 5


def test_only_metrics_is_served() -> None:
    assert TestClient(metrics_app(token=None)).get("/").status_code == 404


async def test_a_port_already_taken_leaves_the_process_without_metrics() -> None:
    first = MetricsServer(metrics_app(token=None), "127.0.0.1", 0)
    assert first.start()
    await asyncio.sleep(0.2)
    port = first._server.servers[0].sockets[0].getsockname()[1]
    second = MetricsServer(metrics_app(token=None), "127.0.0.1", port)
    assert not second.start()
    await first.stop()


def test_the_proxy_counts_answers_by_status() -> None:
    async def page(request: object) -> PlainTextResponse:
        return PlainTextResponse("missing", status_code=404)

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    app = StatusCounter(Starlette(routes=[Route("/", page), WebSocketRoute("/ws", socket)]))
    before_404 = sample("previewd_proxy_requests_total", kind="http", status="404")
    before_101 = sample("previewd_proxy_requests_total", kind="websocket", status="101")
    client = TestClient(app)
    assert client.get("/").status_code == 404
    with client.websocket_connect("/ws"):
        pass
    assert sample("previewd_proxy_requests_total", kind="http", status="404") == before_404 + 1
    assert sample("previewd_proxy_requests_total", kind="websocket", status="101") == before_101 + 1


def test_statuses_pr_code_makes_up_count_in_their_class() -> None:
    """A preview answering with a new status per request would mint a time series each (cardinality):
    the codes HTTP defines keep their own label, any other counts in its class."""

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("", status_code=int(request.query_params["status"]))

    client = TestClient(StatusCounter(Starlette(routes=[Route("/", page)])))
    before = {
        label: sample("previewd_proxy_requests_total", kind="http", status=label)
        for label in ("5xx", "2xx", "418")
    }
    for status in (599, 571, 299, 418):
        assert client.get(f"/?status={status}").status_code == status
    for made_up in ("599", "571", "299"):
        assert (
            REGISTRY.get_sample_value("previewd_proxy_requests_total", {"kind": "http", "status": made_up})
            is None
        )
    assert sample("previewd_proxy_requests_total", kind="http", status="5xx") == before["5xx"] + 2
    assert sample("previewd_proxy_requests_total", kind="http", status="2xx") == before["2xx"] + 1
    assert sample("previewd_proxy_requests_total", kind="http", status="418") == before["418"] + 1


def test_api_call_statuses_are_bounded_too() -> None:
    assert [status_label(s) for s in (200, 404, 429, 599, 299, 999, 42)] == [
        "200", "404", "429", "5xx", "2xx", "other", "other",
    ]  # fmt: skip


def test_metrics_off_loopback_need_a_token(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEWD_METRICS_BIND", "0.0.0.0")
    with pytest.raises(ValueError, match="PREVIEWD_METRICS_TOKEN is required"):
        Settings()
    monkeypatch.setenv("PREVIEWD_METRICS_TOKEN", "a-token")
    assert not Settings().metrics_on_loopback


def test_metrics_never_share_a_public_port(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEWD_METRICS_PORT", "8080")
    with pytest.raises(ValueError, match="must differ from"):
        Settings()
    monkeypatch.setenv("PREVIEWD_METRICS_PORT", "0")
    assert Settings().previewd_metrics_port == 0


def test_up_says_where_to_scrape(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = metrics_line(Settings())
    assert line is not None and "http://127.0.0.1:9464/metrics (web)" in line and "9465" in line
    monkeypatch.setenv("PREVIEWD_METRICS_PORT", "0")
    monkeypatch.setenv("PREVIEWD_WORKER_METRICS_PORT", "0")
    assert metrics_line(Settings()) is None
