"""Webhook bodies over 25 MB are refused with 413 without the web app holding them: a declared
Content-Length is refused before a byte is read, a chunked body once the count passes the limit.
The web process's RSS is sampled while the body goes up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx

from tests.integration.system import System

MB = 1024 * 1024
HEADERS = {
    "X-GitHub-Event": "ping",
    "X-GitHub-Delivery": "too-big",
    "X-Hub-Signature-256": "sha256=" + "0" * 64,
}


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """The highest RSS of a process while the block runs, sampled every 2 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.baseline = pid, 0, rss_bytes(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.002)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / MB


def chunks(total: int, size: int = MB) -> Iterator[bytes]:
    piece = b"x" * size
    for _ in range(total // size):
        yield piece


def post(system: System, content: bytes | Iterator[bytes]) -> int:
    """The status the server answered. It closes the connection after a 413 while the body is still
    coming: a client that lost the answer to that (a reset before it read it) fails the test."""
    try:
        url = f"{system.base_url}/webhooks/github"
        return httpx.post(url, headers=HEADERS, timeout=60, content=content).status_code
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError) as error:
        raise AssertionError(f"the 413 did not reach the client: {error!r}") from None


def test_a_30_mb_body_with_content_length_is_413_before_it_is_read(system: System) -> None:
    web = system.children["web"].process.pid
    with PeakRss(web) as rss:
        status = post(system, content=b"x" * (30 * MB))
    assert status == 413
    assert rss.growth_mb < 10, f"web RSS grew {rss.growth_mb:.1f} MB"


def test_a_30_mb_chunked_body_is_413(system: System) -> None:
    web = system.children["web"].process.pid
    with PeakRss(web) as rss:
        status = post(system, content=chunks(30 * MB))
    assert status == 413
    assert rss.growth_mb < 40, f"web RSS grew {rss.growth_mb:.1f} MB"


def test_a_100_mb_chunked_body_never_grows_the_web_app_by_its_size(system: System) -> None:
    web = system.children["web"].process.pid
    with PeakRss(web) as rss:
        status = post(system, content=chunks(100 * MB))
    assert status == 413
    print(
        f"web RSS during a 100 MB chunked POST: +{rss.growth_mb:.1f} MB (baseline {rss.baseline / MB:.0f} MB)"
    )
    assert rss.growth_mb < 40, f"web RSS grew {rss.growth_mb:.1f} MB"
