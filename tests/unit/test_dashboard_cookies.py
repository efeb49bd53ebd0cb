"""The session cookie's flags, its signing key on disk, and CSRF refusal, on the app as built
(no database is reached on these paths)."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from config import Settings
from web.app import create_app


def _client(clean_env: Path, base_url: str) -> httpx.AsyncClient:
    settings = Settings(
        previewd_base_url=base_url, previewd_data_dir=clean_env / "data", github_webhook_secret="w" * 32
    )
    # The ASGI transport runs no lifespan: no database pool is ever opened.
    app = create_app(settings, "postgresql://nobody@127.0.0.1:1/none")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.mark.parametrize(
    "base_url, secure", [("https://previews.example", True), ("http://localhost:8000", False)]
)
async def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(
    clean_env: Path, base_url: str, secure: bool
) -> None:
    response = await _client(clean_env, base_url).get("/login")
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    # Over https, `__Host-`: only this exact host may set it (Secure, Path=/, no Domain).
    assert cookie.startswith("__host-previewd_session=" if secure else "previewd_session=")
    assert "path=/" in cookie and "domain=" not in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert ("secure" in cookie.split("; ")) is secure


async def test_the_signing_key_is_generated_once_into_the_data_dir(clean_env: Path) -> None:
    _client(clean_env, "http://localhost:8000")
    key_file = clean_env / "data" / "session-key"
    first = key_file.read_text()
    assert len(first.strip()) >= 32 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    _client(clean_env, "http://localhost:8000")
    assert key_file.read_text() == first


async def test_a_post_without_the_csrf_token_is_refused(clean_env: Path) -> None:
    client = _client(clean_env, "http://localhost:8000")
    page = await client.get("/login")
    assert page.status_code == 200
    assert (await client.post("/logout")).status_code == 403
    assert (await client.post("/logout", data={"csrf_token": "guess"})).status_code == 403
    assert (await client.post("/logout", headers={"X-CSRF-Token": "guess"})).status_code == 403


async def test_pages_need_a_sign_in(clean_env: Path) -> None:
    client = _client(clean_env, "http://localhost:8000")
    response = await client.get("/projects/6f1c1c1e-0000-4000-8000-000000000000")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/projects/6f1c1c1e-0000-4000-8000-000000000000"
    polled = await client.get("/", headers={"HX-Request": "true"})
    assert (polled.status_code, polled.headers["hx-redirect"]) == (401, "/login")
