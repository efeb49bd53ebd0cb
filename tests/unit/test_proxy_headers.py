"""Which headers the preview proxy passes on, and which close codes it can send on."""

from __future__ import annotations

from web.proxy.headers import end_to_end, to_upstream
from web.proxy.websocket_bridge import _sendable, _uri


def _scope(headers: list[tuple[bytes, bytes]], scheme: str = "http") -> dict[str, object]:
    return {"type": "http", "scheme": scheme, "headers": headers, "client": ("198.51.100.7", 4000)}


def test_headers_the_connection_header_names_are_dropped_too() -> None:
    kept = end_to_end(
        [(b"connection", b"keep-alive, X-Secret-Hop"), (b"x-secret-hop", b"1"), (b"set-cookie", b"a=1"),
         (b"set-cookie", b"b=2"), (b"keep-alive", b"timeout=5"), (b"content-length", b"3")]
    )  # fmt: skip
    assert kept == [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"content-length", b"3")]


def test_a_chunked_request_loses_a_contradicting_content_length() -> None:
    headers = to_upstream(_scope([(b"host", b"a.localhost"), (b"transfer-encoding", b"chunked"),
                                  (b"content-length", b"10")]))  # fmt: skip
    assert (b"content-length", b"10") not in headers and (b"transfer-encoding", b"chunked") not in headers


def test_host_is_kept_and_forwarding_is_ours() -> None:
    headers = to_upstream(_scope([(b"host", b"a.localhost:8080"), (b"x-forwarded-for", b"10.0.0.1")], "ws"))
    assert headers == [
        (b"host", b"a.localhost:8080"),
        (b"x-forwarded-host", b"a.localhost:8080"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-for", b"198.51.100.7"),
    ]


def test_close_codes_that_cannot_be_sent_are_mapped() -> None:
    assert [_sendable(code, gone=1011) for code in (1000, 1012, 4001, 1005, 1006, 1015)] == [
        1000, 1012, 4001, 1000, 1011, 1011
    ]  # fmt: skip


def test_an_expect_the_server_answered_is_not_asked_again() -> None:
    headers = to_upstream(_scope([(b"host", b"a.localhost"), (b"expect", b"100-continue")]))
    assert not any(name == b"expect" for name, _ in headers)


def test_a_websocket_uri_takes_only_a_plain_host() -> None:
    def uri(host: bytes) -> str | None:
        return _uri(
            {"headers": [(b"host", host)], "raw_path": b"/ws%2Fx", "path": "/ws/x", "query_string": b"a=1"}
        )

    assert uri(b"pr-1-app.localhost:8080") == "ws://pr-1-app.localhost:8080/ws%2Fx?a=1"
    assert uri(b"pr-1-app.localhost:8080@other") is None
    assert uri(b"pr-1-app.localhost:8080/elsewhere") is None
