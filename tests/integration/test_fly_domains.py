"""A project's preview domain on Fly, end to end: signed GitHub webhooks, the real worker and web
app, the GitHub fake (the PR comment) and the Fly fake (the certificate request, per the contract).
The custom host is reached on loopback: PREVIEWD_RESOLVE_OVERRIDES sends `*.previews.test` to the
fake Fly edge's TLS port, which presents a certificate from a CA made for this run (trusted through
PREVIEWD_TLS_CA_BUNDLE) only once the test has "added the DNS record" (`FakeFly.point_dns`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from tests.fakes.fly_machines import EDGE_PREFIX, FakeFly, FakeFlyServer, FakeFlyTlsEdge, create_fake_fly
from tests.fakes.tls_authority import TestAuthority
from tests.integration.github_system import REPO, GitHubSystem, github_system
from tests.integration.system import wait_for

TOKEN = "fo1_fake-fly-token-for-domain-tests"
DOMAIN = "previews.test"
PUBLIC_IMAGE = "docker.io/library/nginx:1.27"
# How long a deploy waits for its name over TLS here: the failing scenario waits this out.
TLS_BOUND_SECONDS = 15


@dataclass
class DomainSystem:
    github: GitHubSystem
    fly: FakeFly


@pytest.fixture(scope="module")
def domains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DomainSystem]:
    authority = TestAuthority(tmp_path_factory.mktemp("ca"))
    fake = create_fake_fly(token=TOKEN)
    with FakeFlyServer(fake) as api, FakeFlyTlsEdge(fake, authority) as edge:
        env = {
            "PREVIEWD_PLATFORM": "fly",
            "FLY_API_TOKEN": TOKEN,
            "FLY_API_URL": api.url,
            "FLY_PREVIEW_URL_TEMPLATE": f"{api.url}{EDGE_PREFIX}/{{app}}/",
            "PREVIEWD_TLS_CA_BUNDLE": str(authority.bundle),
            "PREVIEWD_RESOLVE_OVERRIDES": f"*.{DOMAIN}=127.0.0.1:{edge.port}",
            "PREVIEWD_CUSTOM_DOMAIN_TIMEOUT_SECONDS": str(TLS_BOUND_SECONDS),
        }
        with github_system(tmp_path_factory.mktemp("gh-fly"), extra_env=env) as github:
            yield DomainSystem(github, fake)


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def set_domain(dashboard: httpx.Client, project_id: str, value: str) -> httpx.Response:
    token = csrf(dashboard.get(f"/projects/{project_id}/settings"))
    return dashboard.post(
        f"/projects/{project_id}/domain",
        data={"csrf_token": token, "preview_domain": value},
        follow_redirects=False,
    )


def open_pr(github: GitHubSystem, project: dict[str, Any], number: int) -> str:
    sha = github.push(f"PR {number}", ref=f"refs/heads/pr-{number}")
    github.fake.set_pull(REPO, number, head_sha=sha)
    github.system.pull_request(project, "opened", number, sha)
    return sha


def recorded_domain(github: GitHubSystem, project: dict[str, Any], number: int) -> dict[str, Any] | None:
    rows = github.system.deployments(project["id"], number)
    return rows[-1] if rows and rows[-1]["custom_domain"] else None


def test_a_preview_is_ready_only_once_its_own_name_answers_over_tls(domains: DomainSystem) -> None:
    github, fake = domains.github, domains.fly
    system = github.system
    project = github.add_project(
        9401, fly_config={"image": PUBLIC_IMAGE}, build_command=None, start_command=None, port=8080
    )
    dashboard = system.dashboard()
    try:
        refused = set_domain(dashboard, project["id"], "https://previews.test/x")
        assert refused.status_code == 422
        assert "Preview domain must be a bare domain" in refused.text
        # `{app}.fly.dev` is a Fly app's own name (another's, or this one's edge name): refused.
        suffix = set_domain(dashboard, project["id"], "fly.dev")
        assert suffix.status_code == 422 and "not a public suffix" in suffix.text
        assert set_domain(dashboard, project["id"], " Previews.Test. ").status_code == 303
        settings = dashboard.get(f"/projects/{project['id']}/settings")
        # The record each preview's name needs, for this project's PR #1 app (the fake's edge is an
        # address here, so an A record; on Fly a CNAME to pr-1-private-app.fly.dev).
        records = settings.text[settings.text.index('id="domain-records"') :]
        assert f"<code>pr-1-private-app.{DOMAIN}</code></td><td>A</td><td><code>127.0.0.1</code>" in records

        sha = open_pr(github, project, 1)
        hostname = f"pr-1-private-app.{DOMAIN}"
        row = wait_for(partial(recorded_domain, github, project, 1), timeout=90, what="the certificate")
        # Fly was asked for a certificate for the PR's name, as the contract says.
        [asked] = fake.calls_to("POST", r"/v1/apps/pr-1-private-app/certificates/acme$")
        assert (asked.body, asked.status, asked.operation_id) == (
            {"hostname": hostname}, 201, "App_Certificates_acme_create"
        )  # fmt: skip
        assert row["custom_domain"]["status"] == "Awaiting configuration"
        # Without the DNS record the name does not answer over TLS: the deployment is not ready.
        time.sleep(3)
        [row] = system.deployments(project["id"], 1)
        assert row["status"] == "deploying" and not row["custom_domain"]["serving"]
        page = dashboard.get(f"/deployments/{row['id']}")
        assert 'id="certificate-status">Awaiting configuration<' in page.text
        assert f"{hostname} CNAME pr-1-private-app.fly.dev" in page.text
        waiting = dashboard.get(f"/projects/{project['id']}/settings").text
        assert f"PR #1 <code>{hostname}</code>" in waiting
        assert f"<code>{hostname} CNAME pr-1-private-app.fly.dev</code>" in waiting
        with system.api() as api:
            out = api.get(f"/api/deployments/{row['id']}").json()
            shown = api.get(f"/api/projects/{project['id']}").json()
            # The API shows the domain but does not set it: a 422 naming the field, not a quiet 200.
            refused = api.patch(f"/api/projects/{project['id']}", json={"preview_domain": "evil.example"})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "preview_domain"]
        assert out["custom_domain"]["hostname"] == hostname and out["status"] == "deploying"
        assert shown["preview_domain"] == DOMAIN
        assert hostname not in github.sticky(1)

        fake.point_dns(hostname)
        live = system.wait_status(project["id"], 1, sha, "active", timeout=60)
        assert live["app_url"] == f"https://{hostname}/"
        assert live["custom_domain"]["serving"] and live["custom_domain"]["status"] == "Ready"
        wait_for(partial(github.told, 1, sha, "success"), timeout=60, what="the PR told ready")
        assert f"https://{hostname}/" in github.sticky(1)
        assert fake.secrets["pr-1-private-app"]["PREVIEW_URL"] == f"https://{hostname}/"

        # The next push reuses the app's certificate: asked for once, whatever the pushes.
        second = github.push("PR 1 again", ref="refs/heads/pr-1")
        github.fake.set_pull(REPO, 1, head_sha=second)
        system.pull_request(project, "synchronize", 1, second)
        system.wait_status(project["id"], 1, second, "active", timeout=60)
        assert len(fake.calls_to("POST", r"/certificates/acme$")) == 1

        # The domain removed: the next push serves on the Fly name, and the name's certificate goes.
        assert set_domain(dashboard, project["id"], "").status_code == 303
        third = github.push("PR 1 without a domain", ref="refs/heads/pr-1")
        github.fake.set_pull(REPO, 1, head_sha=third)
        system.pull_request(project, "synchronize", 1, third)
        plain = system.wait_status(project["id"], 1, third, "active", timeout=60)
        assert (
            plain["app_url"].endswith(f"{EDGE_PREFIX}/pr-1-private-app/") and plain["custom_domain"] is None
        )
        [removed] = fake.calls_to("DELETE", r"/certificates/")
        assert (removed.path, removed.status) == (f"/v1/apps/pr-1-private-app/certificates/{hostname}", 204)
        assert fake.certificates["pr-1-private-app"] == {}

        github.fake.set_pull(REPO, 1, head_sha=third, state="closed")
        system.pull_request(project, "closed", 1, third)
        system.wait_status(project["id"], 1, third, "destroyed")
        # The app went, and its certificate with it.
        assert "pr-1-private-app" not in fake.apps and fake.issued(hostname) is None
    finally:
        dashboard.close()


def test_a_name_that_never_answers_fails_naming_the_dns_record(domains: DomainSystem) -> None:
    github, fake = domains.github, domains.fly
    system = github.system
    project = github.add_project(
        9402, fly_config={"image": PUBLIC_IMAGE}, build_command=None, start_command=None, port=8080
    )
    dashboard = system.dashboard()
    try:
        assert set_domain(dashboard, project["id"], DOMAIN).status_code == 303
    finally:
        dashboard.close()
    sha = open_pr(github, project, 2)
    failed = system.wait_status(project["id"], 2, sha, "failed", timeout=TLS_BOUND_SECONDS + 90)
    hostname = f"pr-2-private-app.{DOMAIN}"
    assert f"https://{hostname}/ did not answer over TLS within {TLS_BOUND_SECONDS}s" in failed["error"]
    assert f"Add the DNS record {hostname} CNAME pr-2-private-app.fly.dev" in failed["error"]
    assert fake.issued(hostname) is None


def test_a_newer_push_stops_the_wait_for_the_name_at_once(domains: DomainSystem) -> None:
    """A deploy waiting for its name over TLS is cancelled by the PR's next push (through the
    activity's heartbeats), not waited out; the next deploy finds the app's certificate."""
    github, fake = domains.github, domains.fly
    system = github.system
    project = github.add_project(
        9403, fly_config={"image": PUBLIC_IMAGE}, build_command=None, start_command=None, port=8080
    )
    dashboard = system.dashboard()
    try:
        assert set_domain(dashboard, project["id"], DOMAIN).status_code == 303
    finally:
        dashboard.close()
    first = open_pr(github, project, 3)
    wait_for(partial(recorded_domain, github, project, 3), timeout=90, what="the wait for the name")
    pushed = time.monotonic()
    second = github.push("PR 3 again", ref="refs/heads/pr-3")
    github.fake.set_pull(REPO, 3, head_sha=second)
    system.pull_request(project, "synchronize", 3, second)
    stopped = system.wait_status(project["id"], 3, first, "superseded", timeout=TLS_BOUND_SECONDS + 30)
    assert time.monotonic() - pushed < TLS_BOUND_SECONDS, "the wait ran out instead of being cancelled"
    assert "did not answer over TLS" not in (stopped["error"] or "")
    hostname = f"pr-3-private-app.{DOMAIN}"
    wait_for(
        lambda: any(
            r["commit_sha"] == second and r["custom_domain"] for r in system.deployments(project["id"], 3)
        ),
        timeout=90,
        what="the next push waiting for the name",
    )
    fake.point_dns(hostname)
    live = system.wait_status(project["id"], 3, second, "active", timeout=60)
    assert live["app_url"] == f"https://{hostname}/"
    assert len(fake.calls_to("POST", r"/v1/apps/pr-3-private-app/certificates/acme$")) == 1


def test_a_throttled_certificate_lookup_does_not_stretch_the_bound(domains: DomainSystem) -> None:
    """Fly asking previewd to come back in two minutes (Retry-After) when the deploy first looks for
    the name's certificate: the deploy still fails at PREVIEWD_CUSTOM_DOMAIN_TIMEOUT_SECONDS, naming
    the record that points the name at the app, not minutes later (and so not past the activity's
    own timeout, to be retried whole)."""
    github, fake = domains.github, domains.fly
    system = github.system
    project = github.add_project(
        9404, fly_config={"image": PUBLIC_IMAGE}, build_command=None, start_command=None, port=8080
    )
    dashboard = system.dashboard()
    try:
        assert set_domain(dashboard, project["id"], DOMAIN).status_code == 303
    finally:
        dashboard.close()
    hostname = f"pr-4-private-app.{DOMAIN}"
    fake.fail_next(
        1, 429, headers={"retry-after": "120"}, method="GET", path=rf"/certificates/{re.escape(hostname)}$"
    )
    opened = time.monotonic()
    sha = open_pr(github, project, 4)
    failed = system.wait_status(project["id"], 4, sha, "failed", timeout=TLS_BOUND_SECONDS + 150)
    assert time.monotonic() - opened < TLS_BOUND_SECONDS + 30, "the bound was stretched"
    assert f"https://{hostname}/ did not answer over TLS within {TLS_BOUND_SECONDS}s" in failed["error"]
    # Fly never said which records it wants: the one pointing the name at the app's edge (an
    # address on the fake; a CNAME to {app}.fly.dev on Fly).
    assert f"Add the DNS record {hostname} A 127.0.0.1" in failed["error"]
    assert fake.calls_to("POST", r"/v1/apps/pr-4-private-app/certificates/acme$") == []


def test_a_throttled_status_lookup_does_not_hold_the_probe(domains: DomainSystem) -> None:
    """While the deploy waits, Fly throttles the certificate's status lookups; the record is added
    meanwhile: the preview is ready as soon as its name answers, within the bound."""
    github, fake = domains.github, domains.fly
    system = github.system
    project = github.add_project(
        9405, fly_config={"image": PUBLIC_IMAGE}, build_command=None, start_command=None, port=8080
    )
    dashboard = system.dashboard()
    try:
        assert set_domain(dashboard, project["id"], DOMAIN).status_code == 303
    finally:
        dashboard.close()
    sha = open_pr(github, project, 5)
    hostname = f"pr-5-private-app.{DOMAIN}"
    wait_for(partial(recorded_domain, github, project, 5), timeout=90, what="the wait for the name")
    fake.fail_next(
        1, 429, headers={"retry-after": "120"}, method="GET", path=rf"/certificates/{re.escape(hostname)}$"
    )
    time.sleep(6)  # past the next status lookup, which is now held by Fly's Retry-After
    fake.point_dns(hostname)
    live = system.wait_status(project["id"], 5, sha, "active", timeout=TLS_BOUND_SECONDS)
    assert live["app_url"] == f"https://{hostname}/" and live["custom_domain"]["serving"]
