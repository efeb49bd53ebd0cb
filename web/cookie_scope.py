"""Whether previews can set cookies for the dashboard: the warning `previewd web` logs at start.

A browser lets a page set a cookie for its registrable domain (example.com for both
pr-1-app.previews.example.com and previewd.example.com), so PR code served on the dashboard's site can
plant a cookie the dashboard then reads (a fixed session, a CSRF token). The session cookie's `__Host-`
prefix stops that for the session itself; the other cookies, and same-site requests, still mix.
"""

from __future__ import annotations

import ipaddress
from functools import cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from config import Settings

SAMPLE_APP = "pr-1-app"


@cache
def _suffixes() -> PublicSuffixList:
    # The list the package ships (read once, no download), private suffixes included (github.io,
    # fly.dev): browsers keep those sites apart too.
    return PublicSuffixList()


def _site(host: str) -> str | None:
    host = host.lower().rstrip(".")
    if not host or host == "localhost" or host.endswith(".localhost"):
        return None  # the local default: each name is its own site in browsers
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None  # an address has no registrable domain
    except ValueError:
        pass
    site = _suffixes().privatesuffix(host)
    return str(site) if site else None


def shared_site_warning(settings: Settings) -> str | None:
    """A warning when previews and the dashboard share a registrable domain in GitHub mode (several
    people, PR code from strangers); None otherwise."""
    if not settings.github_sign_in:
        return None
    dashboard = urlsplit(settings.previewd_base_url).hostname or ""
    preview = urlsplit(settings.preview_url(SAMPLE_APP)).hostname or ""
    site = _site(dashboard)
    if site is None or site != _site(preview):
        return None
    return (
        f"previews ({preview}) and the dashboard ({dashboard}) share the site {site}: PR code can set "
        "cookies the dashboard reads. Serve previews from another registrable domain "
        "(PREVIEWD_PREVIEW_DOMAIN or FLY_PREVIEW_URL_TEMPLATE)."
    )


def site_shared_with_dashboard(settings: Settings, host: str) -> str | None:
    """The registrable domain `host` (a project's preview name) shares with the dashboard, if any:
    the settings page warns about a preview domain on the dashboard's site."""
    site = _site(urlsplit(settings.previewd_base_url).hostname or "")
    return site if site is not None and site == _site(host) else None
