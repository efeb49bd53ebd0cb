"""What pages and the log stream send: escaped, resumable, with times people can read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from starlette.requests import Request

from web.dashboard.log_stream import event, resume_point
from web.dashboard.signed_in import safe_next
from web.dashboard.templating import ago, environment, exact

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_log_lines_are_escaped() -> None:
    line = SimpleNamespace(
        id=7, level="error", type="build", timestamp=NOW, message="<img src=x onerror=alert(1)> & done"
    )
    html = environment.get_template("_log_lines.html").render(lines=[line])
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; done" in html


def test_an_sse_event_keeps_every_line_of_its_payload_as_data() -> None:
    text = event("lines", "<div>a</div>\r\n<div>b\rc</div>", 42)
    assert text == "id: 42\nevent: lines\ndata: <div>a</div>\ndata: <div>b\ndata: c</div>\n\n"


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def test_the_stream_resumes_after_the_last_event_id_the_browser_saw() -> None:
    assert resume_point(_request({}), 10) == 10
    assert resume_point(_request({"Last-Event-ID": "250"}), 10) == 250
    assert resume_point(_request({"Last-Event-ID": "not-a-number"}), 10) == 10


def test_relative_and_exact_times() -> None:
    assert ago(NOW - timedelta(seconds=5), NOW) == "just now"
    assert ago(NOW - timedelta(minutes=3), NOW) == "3 min ago"
    assert ago(NOW - timedelta(hours=5), NOW) == "5 h ago"
    assert ago(NOW - timedelta(days=2), NOW) == "2 d ago"
    assert exact(NOW) == "2026-11-25 12:00:00 UTC"


def test_after_sign_in_only_a_path_on_this_site_is_followed() -> None:
    assert safe_next("/projects/1?page=2") == "/projects/1?page=2"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", None, ""):
        assert safe_next(hostile) == "/"
