"""Which headers cross the proxy, both ways, for HTTP and WebSocket alike.

Headers are kept as the raw byte pairs the server parsed, so repeated ones (two `Cookie` lines on the
way in, several `Set-Cookie` on the way out) reach the other side as they were, never merged.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope

RawHeaders = list[tuple[bytes, bytes]]

# Meant for one connection only (RFC 9110 7.6.1); `proxy-connection` is the pre-standard spelling that
# some clients still send. Content-Length is not among them: a body is relayed as it was framed.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate", b"proxy-authorization",
     b"te", b"trailer", b"trailers", b"transfer-encoding", b"upgrade"}
)  # fmt: skip
# Set by us alone: a client's own would tell the preview a made-up address, host or scheme.
CLIENT_FORWARDING = frozenset(
    {b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port",
     b"x-forwarded-prefix", b"x-forwarded-server", b"x-real-ip"}
)  # fmt: skip
# Answered by the server in front of us already (it sends "100 Continue" when the body is first read);
# the preview gets the body without being asked again.
ANSWERED_HERE = frozenset({b"expect"})
# A WebSocket handshake is made again on the upstream side by the client library, with its own key,
# version and extensions; the offered subprotocols go through as the library's argument.
WEBSOCKET_HANDSHAKE = frozenset(
    {b"host", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
     b"sec-websocket-protocol", b"sec-websocket-accept"}
)  # fmt: skip


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Headers that the `Connection` header names are hop-by-hop too (RFC 9110 7.6.1)."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }


def end_to_end(
    headers: Iterable[tuple[bytes, bytes]], *, also_drop: frozenset[bytes] = frozenset()
) -> RawHeaders:
    """The headers that belong to the message rather than to this hop."""
    pairs = list(headers)
    dropped = HOP_BY_HOP | also_drop | _connection_tokens(pairs)
    return [(name, value) for name, value in pairs if name.lower() not in dropped]


def forwarding(scope: Scope) -> RawHeaders:
    """Ours: the client's address, the Host it asked for and the scheme it used (a WebSocket's
    `ws`/`wss` is `http`/`https`, as every framework expects in X-Forwarded-Proto)."""
    host = next((value for name, value in scope["headers"] if name == b"host"), b"")
    scheme: str = scope.get("scheme", "http")
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    client = scope.get("client")
    return [
        (b"x-forwarded-host", host),
        (b"x-forwarded-proto", scheme.encode()),
        (b"x-forwarded-for", client[0].encode() if client else b""),
    ]


def to_upstream(scope: Scope, *, also_drop: frozenset[bytes] = frozenset()) -> RawHeaders:
    """The request's headers as the preview gets them: the client's own, `Host` included, with hop-by-hop
    and client-sent forwarding headers replaced by ours."""
    headers: RawHeaders = scope["headers"]
    kept = end_to_end(headers, also_drop=CLIENT_FORWARDING | ANSWERED_HERE | also_drop)
    if any(name == b"transfer-encoding" for name, _ in headers):
        # A chunked body is sent on chunked again; a Content-Length beside it would contradict that.
        kept = [(name, value) for name, value in kept if name != b"content-length"]
    return kept + forwarding(scope)
