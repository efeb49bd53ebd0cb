"""The session cookie is `__Host-` over https; GitHub mode warns when previews share the dashboard's site."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings
from web.cookie_scope import shared_site_warning, site_shared_with_dashboard
from web.dashboard.install import session_cookie_name

GITHUB = {"GITHUB_CLIENT_ID": "Iv1.x", "GITHUB_CLIENT_SECRET": "s"}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_previews_on_the_dashboards_site_are_warned_about_in_github_mode(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = settings(monkeypatch, **GITHUB, PREVIEWD_BASE_URL="https://previewd.example.com",
                      PREVIEWD_PREVIEW_DOMAIN="previews.example.com")  # fmt: skip
    warning = shared_site_warning(shared)
    assert warning is not None and "example.com" in warning and "PREVIEWD_PREVIEW_DOMAIN" in warning


@pytest.mark.parametrize(
    ("base_url", "domain", "github"),
    [
        ("https://previewd.example.com", "example-previews.net", True),  # another site
        ("http://localhost:8000", "localhost", True),  # the local default
        ("http://127.0.0.1:8000", "localhost", True),
        ("https://previewd.example.com", "previews.example.com", False),  # one person, local mode
        ("https://a.github.io", "b.github.io", True),  # a private suffix keeps them apart
    ],
)
def test_other_setups_stay_quiet(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, base_url: str, domain: str, github: bool
) -> None:
    env = {"PREVIEWD_BASE_URL": base_url, "PREVIEWD_PREVIEW_DOMAIN": domain, **(GITHUB if github else {})}
    assert shared_site_warning(settings(monkeypatch, **env)) is None


def test_the_session_cookie_is_host_prefixed_over_https(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert session_cookie_name(Settings()) == "previewd_session"
    https = settings(monkeypatch, PREVIEWD_BASE_URL="https://previewd.example.com")
    assert session_cookie_name(https) == "__Host-previewd_session"


def test_a_project_preview_domain_on_the_dashboards_site_is_named(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_site = settings(monkeypatch, PREVIEWD_BASE_URL="https://previewd.example.com")
    assert site_shared_with_dashboard(on_site, "pr-1-app.previews.example.com") == "example.com"
    assert site_shared_with_dashboard(on_site, "pr-1-app.example-previews.net") is None
    local = settings(monkeypatch, PREVIEWD_BASE_URL="http://127.0.0.1:8000")
    assert site_shared_with_dashboard(local, "pr-1-app.previews.example.com") is None
