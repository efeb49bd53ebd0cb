"""Custom preview domains, below the whole system: the domain rule, the resolver override, the fake
Fly's certificates (against the contract, through the production client), and the TLS check against
the fake edge with a test CA on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from activities.fly.client import FlyClient
from activities.fly.tls_check import override_for, tls_client, tls_problem
from config import Settings, parse_resolve_overrides
from models.preview_domains import normalize_domain, pointing_record, records_from_fly
from tests.fakes.fly_machines import FakeFly, FakeFlyServer, FakeFlyTlsEdge, create_fake_fly
from tests.fakes.tls_authority import TestAuthority

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
     "previews.example.com:443", "x" * 64 + ".example.com", ("a" * 60 + ".") * 4 + "com"],
)  # fmt: skip
def test_what_is_not_a_domain_is_refused_with_a_reason(value: str) -> None:
    stored, problem = normalize_domain(value)
    assert stored is None and problem


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
                return await tls_problem(http, "https://pr-1-app.p.test/")

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
