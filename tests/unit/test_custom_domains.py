"""Custom preview domains, below the whole system: the domain rule, the resolver override, the fake
Fly's certificates (against the contract, through the production client), and the TLS check against
the fake edge with a test CA on loopback."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from activities.fly.client import FlyClient
from activities.fly.tls_check import override_for, tls_client, tls_problem
from config import Settings, parse_resolve_overrides
from models.preview_domains import normalize_domain, pointing_record, records_from_fly
from tests.fakes.fly_machines import FakeFly, FakeFlyServer, FakeFlyTlsEdge, create_fake_fly
from tests.fakes.tls_authority import TestAuthority
from web.dashboard.domain_rules import reserved_problem

TOKEN = "fo1_test-token"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("previews.example.com", "previews.example.com"),
        ("  Previews.Example.COM. ", "previews.example.com"),
        ("vorschau.bücher.de", "vorschau.xn--bcher-kva.de"),
        ("", None),
    ],
)
def test_a_preview_domain_is_stored_as_its_ascii_name(value: str, stored: str | None) -> None:
    assert normalize_domain(value) == (stored, None)


@pytest.mark.parametrize(
    "value",
    ["https://previews.example.com", "*.example.com", "example", "10.0.0.1", "a..b", "-a.example.com",
     "previews.example.com:443", "x" * 64 + ".example.com", ("a" * 60 + ".") * 4 + "com",
     # Public suffixes: `{app}.fly.dev` is some Fly app's own name, `{app}.co.uk` someone's site.
     "fly.dev", "FLY.DEV.", "co.uk", "github.io", "example.123",
     # `{app}.{domain}` of 11 labels: Let's Encrypt would never issue its certificate.
     "a.b.c.d.e.f.g.h.example.com"],
)  # fmt: skip
def test_what_is_not_a_domain_is_refused_with_a_reason(value: str) -> None:
    stored, problem = normalize_domain(value)
    assert stored is None and problem


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("previewd.example.com", "dashboard's host name"),
        ("x.previewd.example.com", "dashboard's host name"),
        ("edge.example.net", "previews already answer under"),
        ("local.example.org", "PREVIEWD_PREVIEW_DOMAIN"),
    ],
)
def test_the_servers_own_names_are_refused(domain: str, why: str, clean_env: Path) -> None:
    settings = Settings(
        previewd_base_url="https://previewd.example.com",
        fly_preview_url_template="https://{app}.edge.example.net/",
        previewd_preview_domain="local.example.org",
    )
    assert why in (reserved_problem(settings, domain) or "")
    # The dashboard's registrable domain next to it stays allowed (the settings page warns).
    assert reserved_problem(settings, "previews.example.com") is None
    assert reserved_problem(settings, "example.com") is None


def test_the_operators_list_bounds_what_an_admin_may_name(clean_env: Path) -> None:
    settings = Settings(previewd_allowed_preview_domains="previews.a.example, B.example.")
    assert reserved_problem(settings, "previews.a.example") is None
    assert reserved_problem(settings, "team1.previews.a.example") is None
    assert reserved_problem(settings, "b.example") is None
    for other in ("a.example", "previews.c.example", "notb.example", "previews.a.example.evil"):
        assert "operator's preview domains: previews.a.example, b.example" in (
            reserved_problem(settings, other) or ""
        ), other
    assert reserved_problem(Settings(), "anything.example") is None  # no list: any domain


def test_resolve_overrides_match_exact_names_then_the_nearest_wildcard() -> None:
    overrides = parse_resolve_overrides("*.previews.test=127.0.0.1:8443, api.previews.test=[::1]:9000")
    assert override_for(overrides, "pr-1-app.previews.test") == ("127.0.0.1", 8443)
    assert override_for(overrides, "API.previews.test") == ("::1", 9000)
    assert override_for(overrides, "previews.test") is None
    assert override_for(overrides, "elsewhere.example") is None
    with pytest.raises(ValueError, match="host=address:port"):
        parse_resolve_overrides("pr-1.previews.test=127.0.0.1")


def test_the_records_fly_asks_for_are_the_pointing_one_then_the_challenge() -> None:
    requirements = {
        "cname": "pr-1-app.fly.dev",
        "a": ["66.241.1.2"],
        "acme_challenge": {
            "name": "_acme-challenge.pr-1-app.p.test",
            "target": "pr-1-app.p.test.x.flydns.net",
        },
    }
    records = [(r.type, r.name, r.value) for r in records_from_fly("pr-1-app.p.test", requirements)]
    assert records == [
        ("CNAME", "pr-1-app.p.test", "pr-1-app.fly.dev"),
        ("CNAME", "_acme-challenge.pr-1-app.p.test", "pr-1-app.p.test.x.flydns.net"),
    ]
    only_addresses = records_from_fly("h.p.test", {"a": ["66.241.1.2"], "aaaa": ["2a09::1"]})
    assert [(r.type, r.value) for r in only_addresses] == [("A", "66.241.1.2"), ("AAAA", "2a09::1")]
    assert pointing_record("h.p.test", "127.0.0.1").type == "A"


@pytest.fixture
def fake() -> FakeFly:
    return create_fake_fly(token=TOKEN, start_delay=0.0)


def test_certificates_through_the_client_keep_to_the_contract_and_are_idempotent(fake: FakeFly) -> None:
    async def scenario(url: str) -> None:
        client = FlyClient(base_url=url, token=TOKEN)
        try:
            await client.create_app("pr-1-app", "personal", "previewd-x")
            assert await client.certificate("pr-1-app", "pr-1-app.p.test") is None
            first = await client.request_acme_certificate("pr-1-app", "pr-1-app.p.test")
            assert fake.contract.schema_errors("CertificateDetail", first) == []
            assert (first["status"], first["configured"]) == ("Awaiting configuration", False)
            # Asked again (a retried activity, the next push): the same certificate, no error.
            again = await client.request_acme_certificate("pr-1-app", "pr-1-app.p.test")
            assert again["hostname"] == "pr-1-app.p.test"
            fake.point_dns("pr-1-app.p.test")
            shown = await client.certificate("pr-1-app", "pr-1-app.p.test")
            assert shown is not None and (shown["status"], shown["configured"]) == ("Ready", True)
            assert await client.delete_certificate("pr-1-app", "pr-1-app.p.test") is True
            assert await client.delete_certificate("pr-1-app", "pr-1-app.p.test") is False
        finally:
            await client.aclose()

    with FakeFlyServer(fake) as server:
        asyncio.run(scenario(server.url))
    posts = fake.calls_to("POST", r"/certificates/acme$")
    assert [(c.body, c.status) for c in posts] == [({"hostname": "pr-1-app.p.test"}, 201),
                                                   ({"hostname": "pr-1-app.p.test"}, 422)]  # fmt: skip


def test_the_tls_check_verifies_the_name_against_the_trusted_ca(
    fake: FakeFly, tmp_path: Path, clean_env: Path
) -> None:
    authority, stranger = TestAuthority(tmp_path / "ca"), TestAuthority(tmp_path / "other")
    fake.apps["pr-1-app"] = {}
    fake.certificates["pr-1-app"] = {}
    fake.ips["pr-1-app"] = []
    with FakeFlyTlsEdge(fake, authority) as edge:
        overrides = f"*.p.test=127.0.0.1:{edge.port}"

        async def problem(bundle: Path) -> str | None:
            settings = Settings(previewd_tls_ca_bundle=bundle, previewd_resolve_overrides=overrides)
            async with tls_client(settings) as http:
                return await tls_problem(http, "https://pr-1-app.p.test/", settings.resolve_overrides)

        fake.certificates["pr-1-app"]["pr-1-app.p.test"] = {
            "hostname": "pr-1-app.p.test",
            "configured": False,
        }
        assert "TLS handshake refused" in (asyncio.run(problem(authority.bundle)) or "")
        fake.point_dns("pr-1-app.p.test")
        # Issued, but by a CA previewd was not told to trust: not ready.
        assert "not trusted" in (asyncio.run(problem(stranger.bundle)) or "")
        # Trusted and for this name: it answers (503 here, since the app runs no machine).
        assert asyncio.run(problem(authority.bundle)) == "it answered HTTP 503"


def test_a_trusted_certificate_for_another_name_is_not_enough(tmp_path: Path, clean_env: Path) -> None:
    """The override only says where to connect: a server holding a trusted certificate for another
    name (say, another PR's) does not pass for this one, and the name it is asked for, in SNI and in
    the Host header, is the URL's own."""
    authority = TestAuthority(tmp_path / "ca")
    asked: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Keeps the connection open for more requests, as an edge does, until the client closes it.
        try:
            while request := await reader.readuntil(b"\r\n\r\n"):
                asked.append(request)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()

    async def scenario() -> tuple[str | None, str | None]:
        server = await asyncio.start_server(
            answer, "127.0.0.1", 0, ssl=authority.server_context("pr-1-app.p.test")
        )
        port = server.sockets[0].getsockname()[1]
        settings = Settings(
            previewd_tls_ca_bundle=authority.bundle, previewd_resolve_overrides=f"*.p.test=127.0.0.1:{port}"
        )
        async with server, tls_client(settings) as http:
            own = await tls_problem(http, "https://pr-1-app.p.test/", settings.resolve_overrides)
            other = await tls_problem(http, "https://pr-2-app.p.test/", settings.resolve_overrides)
        return own, other

    own, other = asyncio.run(scenario())
    assert own is None
    # Not through the connection already open to the same address for pr-1-app's name.
    assert other is not None and "not trusted" in other and "pr-2-app.p.test" in other
    [request] = asked
    assert request.startswith(b"GET / HTTP/1.1\r\n") and b"\r\nhost: pr-1-app.p.test\r\n" in request.lower()


def test_the_check_reads_no_body_so_pr_code_cannot_hold_it(tmp_path: Path, clean_env: Path) -> None:
    """The name serves PR code: an answer whose body never ends is judged by its status line and
    headers, not read (which would hold the probe, and fill the worker's memory, until the bound)."""
    authority = TestAuthority(tmp_path / "ca")

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            writer.close()

    async def scenario() -> str | None:
        server = await asyncio.start_server(
            endless, "127.0.0.1", 0, ssl=authority.server_context("pr-1-app.p.test")
        )
        port = server.sockets[0].getsockname()[1]
        settings = Settings(
            previewd_tls_ca_bundle=authority.bundle, previewd_resolve_overrides=f"*.p.test=127.0.0.1:{port}"
        )
        async with server, tls_client(settings) as http:
            return await asyncio.wait_for(
                tls_problem(http, "https://pr-1-app.p.test/", settings.resolve_overrides), timeout=10
            )

    assert asyncio.run(scenario()) is None
