"""Whether a preview's custom hostname answers over TLS with a certificate this host trusts.

The check is what a visitor's browser does: resolve the name, connect, verify the certificate against
the URL's host name, expect a 2xx/3xx. Two settings bend it without weakening it, for tests and for
split-horizon networks: PREVIEWD_RESOLVE_OVERRIDES says where to connect for a name (the TLS handshake
and its verification still use the URL's name), PREVIEWD_TLS_CA_BUNDLE which CAs to trust.
"""

from __future__ import annotations

import ssl

import httpx

from config import Settings

PROBE_TIMEOUT_SECONDS = 5


def override_for(overrides: dict[str, tuple[str, int]], host: str) -> tuple[str, int] | None:
    """The address for `host`: an exact entry, else the nearest `*.suffix` one."""
    host = host.lower()
    if host in overrides:
        return overrides[host]
    labels = host.split(".")
    for start in range(1, len(labels)):
        found = overrides.get("*." + ".".join(labels[start:]))
        if found is not None:
            return found
    return None


def tls_client(settings: Settings) -> httpx.AsyncClient:
    """An httpx client that verifies certificates (against PREVIEWD_TLS_CA_BUNDLE when set), follows
    no redirect and takes no proxy from the environment: the probe reaches the name itself."""
    bundle = settings.previewd_tls_ca_bundle
    context = ssl.create_default_context(cafile=str(bundle) if bundle else None)
    # No connection kept between probes: each probe is a new handshake, verified against the name
    # as it is now; and with an override the pool knows a connection by the address alone, so one
    # kept for another name at that address would otherwise be reused without a handshake for this one.
    return httpx.AsyncClient(
        verify=context,
        timeout=PROBE_TIMEOUT_SECONDS,
        limits=httpx.Limits(max_keepalive_connections=0),
        follow_redirects=False,
        trust_env=False,
    )


def probe_request(http: httpx.AsyncClient, url: str, overrides: dict[str, tuple[str, int]]) -> httpx.Request:
    """GET `url`; where PREVIEWD_RESOLVE_OVERRIDES names an address for its host, the connection goes
    there while TLS and HTTP still speak to the URL's own name: httpx's documented `sni_hostname`
    request extension is the name the handshake sends and verifies the certificate against, and the
    Host header is the URL's. Public httpx API only: nothing of its transport is swapped."""
    target = httpx.URL(url)
    name = target.raw_host.decode("ascii")
    address = override_for(overrides, name)
    if address is None:
        return http.build_request("GET", target)
    host, port = address
    return http.build_request(
        "GET",
        target.copy_with(host=host, port=port),
        headers={"Host": target.netloc.decode("ascii")},
        extensions={"sni_hostname": name},
    )


async def tls_problem(http: httpx.AsyncClient, url: str, overrides: dict[str, tuple[str, int]]) -> str | None:
    """None when `url` answers 2xx/3xx over verified TLS; else what went wrong, in a few words."""
    try:
        # The status line and headers are the answer; the body is PR code's, never read (an endless
        # one would hold the probe and fill memory). Closing the response drops the connection.
        response = await http.send(probe_request(http, url, overrides), stream=True)
        await response.aclose()
    except httpx.ConnectError as error:
        reason = _ssl_reason(error)
        if isinstance(reason, ssl.SSLCertVerificationError):
            return f"its certificate is not trusted for this name yet ({reason.verify_message})"
        if reason is not None:
            return f"no certificate for this name yet (TLS handshake refused: {reason.reason or reason})"
        return f"cannot connect ({error or type(error).__name__})"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    if response.status_code >= 400:
        return f"it answered HTTP {response.status_code}"
    return None


def _ssl_reason(error: BaseException) -> ssl.SSLError | None:
    """The TLS error under httpx's and httpcore's wrappers, if a TLS error it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
