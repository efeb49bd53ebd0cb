"""Whether a preview's custom hostname answers over TLS with a certificate this host trusts.

The check is what a visitor's browser does: resolve the name, connect, verify the certificate against
the URL's host name, expect a 2xx/3xx. Two settings bend it without weakening it, for tests and for
split-horizon networks: PREVIEWD_RESOLVE_OVERRIDES says where to connect for a name (the TLS handshake
and its verification still use the URL's name), PREVIEWD_TLS_CA_BUNDLE which CAs to trust.
"""

from __future__ import annotations

import ssl
import typing

import httpcore
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


class _ResolvingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend, connecting to the overridden address of a host when there is
    one; httpcore still hands the URL's host name to the TLS handshake (SNI and verification)."""

    def __init__(self, overrides: dict[str, tuple[str, int]]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._overrides = overrides

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        host, port = override_for(self._overrides, host) or (host, port)
        return await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def tls_client(settings: Settings) -> httpx.AsyncClient:
    """An httpx client that verifies certificates (against PREVIEWD_TLS_CA_BUNDLE when set) and
    connects where PREVIEWD_RESOLVE_OVERRIDES says."""
    bundle = settings.previewd_tls_ca_bundle
    context = ssl.create_default_context(cafile=str(bundle) if bundle else None)
    transport = httpx.AsyncHTTPTransport(verify=context)
    if overrides := settings.resolve_overrides:
        # httpx takes no network backend of its own; its transport's pool is httpcore's, built here
        # the same way with the resolving backend (the one attribute of httpx's transport touched).
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=context, network_backend=_ResolvingBackend(overrides)
        )
    return httpx.AsyncClient(
        transport=transport, timeout=PROBE_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
    )


async def tls_problem(http: httpx.AsyncClient, url: str) -> str | None:
    """None when `url` answers 2xx/3xx over verified TLS; else what went wrong, in a few words."""
    try:
        response = await http.get(url)
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
