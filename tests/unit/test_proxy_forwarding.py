"""The preview proxy forwards the path as the client sent it and only its own X-Forwarded-* headers."""

from __future__ import annotations

import asyncio
import uuid
from typing import cast

import httpx

from models import PreviewRoute
from models.db import Database
from web.proxy import PreviewProxy


class _Proxy(PreviewProxy):
    async def route(self, app_name: str) -> PreviewRoute | None:
        if app_name != "pr-1-app":
            return None
        return PreviewRoute(
            app_name=app_name, deployment_id=uuid.uuid4(), upstream="127.0.0.1:9999", host_queue="h"
        )


def _forwarded(path: str, headers: dict[str, str]) -> httpx.Request:
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(b"ok"))

    async def go() -> None:
        proxy = _Proxy(db=cast(Database, None), domain="localhost")  # routes come from `route` above
        proxy.client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
        transport = httpx.ASGITransport(app=proxy, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://pr-1-app.localhost:8080"
        ) as client:
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text

    asyncio.run(go())
    assert len(seen) == 1
    return seen[0]


def test_an_encoded_slash_reaches_the_app_encoded() -> None:
    request = _forwarded("/a%2F..%2Fsecret?x=%2F&y=1", {})
    assert request.url.raw_path == b"/a%2F..%2Fsecret?x=%2F&y=1"


def test_client_sent_forwarding_headers_are_replaced_by_ours() -> None:
    request = _forwarded(
        "/",
        {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Host": "dashboard.example", "X-Forwarded-Proto": "https",
         "Forwarded": "for=10.0.0.1", "X-Real-IP": "10.0.0.1"},
    )  # fmt: skip
    assert request.headers.get_list("x-forwarded-for") == ["203.0.113.9"]
    assert request.headers.get_list("x-forwarded-host") == ["pr-1-app.localhost:8080"]
    assert request.headers.get_list("x-forwarded-proto") == ["http"]
    assert "forwarded" not in request.headers and "x-real-ip" not in request.headers
