"""The /metrics endpoint (runtime/metrics/endpoint.py) and the proxy's status counter, as ASGI apps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from cli.metrics_line import metrics_line
from config import Settings
from runtime.metrics.endpoint import MetricsServer, metrics_app
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
