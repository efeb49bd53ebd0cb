"""Names a project's preview domain may not take, given this server's own names.

A repository admin sets the domain; the operator owns the server's names. Previews (PR code) at
`{app}.{domain}` must not land in the dashboard's host name or under it (they could set cookies
scoped to it), nor in the domain the server already gives previews (`{app}.{domain}` would be the
app's own edge name: asking Fly for a certificate for it, or deleting it once the domain changes,
would touch the preview's main address). Sharing only the dashboard's registrable domain stays
allowed, with the settings page's warning (web/cookie_scope.py), as for the server's own setting.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from config import Settings

SAMPLE_APP = "pr-1-app"


def _edge_domain(settings: Settings) -> str | None:
    """The domain the Fly preview URL template puts app names under (`fly.dev` for
    `https://{app}.fly.dev/`), None when the app is not the host's first label."""
    host = (urlsplit(settings.fly_preview_url_template.format(app=SAMPLE_APP)).hostname or "").lower()
    prefix = f"{SAMPLE_APP}."
    return host[len(prefix) :] if host.startswith(prefix) else None


def reserved_problem(settings: Settings, domain: str) -> str | None:
    """Why `domain` (normalized) is one of the server's own names or outside the operator's list
    (PREVIEWD_ALLOWED_PREVIEW_DOMAINS), None when it is neither. The list is how a server shared by
    several organisations keeps one's admin from naming a domain of another's: the DNS records of
    `{app}.{domain}` are whoever owns the zone's, and previewd cannot tell who that is."""
    allowed = settings.allowed_preview_domains
    if allowed and not any(domain == name or domain.endswith(f".{name}") for name in allowed):
        return f"must be one of, or under, the operator's preview domains: {', '.join(allowed)}"
    dashboard = (urlsplit(settings.previewd_base_url).hostname or "").lower().rstrip(".")
    if dashboard and (domain == dashboard or domain.endswith(f".{dashboard}")):
        return f"must not be the dashboard's host name ({dashboard}) or a name under it"
    if domain == _edge_domain(settings):
        return f"must not be the domain previews already answer under ({domain})"
    if domain == settings.previewd_preview_domain.lower().rstrip("."):
        return f"must not be PREVIEWD_PREVIEW_DOMAIN ({domain}), the local previews' domain"
    return None
