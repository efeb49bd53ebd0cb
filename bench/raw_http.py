"""A minimal keep-alive HTTP/1.1 client for load generation.

The load generator shares the 2 cores with the server it measures; httpx spends about a millisecond
of CPU per request, which then shows up as server latency. This client sends pre-built request bytes
on persistent connections and parses only the status line and Content-Length.
"""

from __future__ import annotations

import asyncio
import time


def build_request(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes, float]:
        """Returns (status, body, seconds from first byte sent to last byte received)."""
        started = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await self.reader.readexactly(length) if length else b""
        elapsed = time.perf_counter() - started
        return int(head.split(b" ", 2)[1]), body, elapsed

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
