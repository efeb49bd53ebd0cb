"""The fake's webhook side (tests/fakes/github_hooks.py) keeps to GitHub's contract, read through
previewd's own client: signed deliveries recorded with what they got, the delivery log newest first
in cursor pages with a `Link` header and an ETag, redelivery with the same guid; and the redelivery
scan's choice of what to ask for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from activities.github.app_auth import GitHubApp
from activities.github.client import GitHubApi, GitHubApiError
from activities.github.redelivery import Attempt, to_redeliver
from tests.fakes.github_api import FakeGitHub, FakeGitHubServer, create_fake_github
from tests.fakes.loopback import LoopbackServer
from tests.integration.system import free_port
from tests.unit.test_fake_github import APP_ID, PRIVATE_PEM, PUBLIC_PEM
from webhook_signature import signature_valid

SECRET = "hooks-secret"


class Receiver:
    """A stand-in for the App's webhook URL: answers `status`, keeps what it got."""

    def __init__(self) -> None:
        self.status = 202
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> JSONResponse:
        self.got.append((dict(request.headers), await request.body()))
        return JSONResponse({}, status_code=self.status)


@pytest.fixture
def fake() -> FakeGitHub:
    return create_fake_github(app_id=APP_ID, public_key_pem=PUBLIC_PEM, seed=1)


@pytest.fixture
def served(fake: FakeGitHub) -> Iterator[tuple[FakeGitHub, Receiver, str]]:
    receiver = Receiver()
    with FakeGitHubServer(fake) as github, LoopbackServer(receiver.app, "receiver") as hook:
        fake.hooks.url, fake.hooks.secret = f"{hook.url}/hook", SECRET
        yield fake, receiver, github.url


def app_of(url: str) -> GitHubApp:
    return GitHubApp(app_id=str(APP_ID), private_key_pem=PRIVATE_PEM, api=GitHubApi(url, attempts=1))


def test_a_delivery_is_signed_and_recorded_with_what_it_got(served: tuple[FakeGitHub, Receiver, str]) -> None:
    fake, receiver, _ = served
    payload = {"action": "opened", "installation": {"id": 5}, "repository": {"id": 77}}
    ok = fake.hooks.deliver("pull_request", payload)
    receiver.status = 503
    refused = fake.hooks.deliver("pull_request", payload)
    fake.hooks.url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    unreachable = fake.hooks.deliver("pull_request", payload)
    assert ok and refused and unreachable
    headers, body = receiver.got[0]
    assert signature_valid(SECRET, body, headers["x-hub-signature-256"]) and json.loads(body) == payload
    assert headers["x-github-event"] == "pull_request" and headers["x-github-delivery"] == ok.guid
    assert headers["user-agent"].startswith("GitHub-Hookshot/")
    assert (ok.status, ok.status_code) == ("OK", 202)
    assert (refused.status, refused.status_code) == ("Invalid HTTP Response: 503", 503)
    assert (unreachable.status, unreachable.status_code) == ("failed to connect", 502)
    fake.hooks.active = False
    assert fake.hooks.deliver("pull_request", payload) is None and len(fake.hooks.attempts) == 3


def test_the_delivery_log_pages_by_cursor_newest_first_and_answers_304_when_unchanged(
    served: tuple[FakeGitHub, Receiver, str],
) -> None:
    fake, _, url = served
    for number in range(5):
        fake.hooks.deliver("pull_request", {"action": "opened", "number": number})
    app = app_of(url)

    async def walk() -> tuple[list[int], list[str], bool]:
        ids, links = [], []
        next_url: str | None = "/app/hook/deliveries"
        params: dict[str, int] | None = {"per_page": 2}
        while next_url:
            answer = await app.api.answer("GET", next_url, token=app.app_jwt(), params=params)
            ids += [item["id"] for item in answer.body]
            links.append(answer.link)
            next_url, params = answer.next_url(), None
        again = await app.api.answer(
            "GET", "/app/hook/deliveries", token=app.app_jwt(), params={"per_page": 2}
        )
        return ids, links, again.not_modified

    ids, links, not_modified = asyncio.run(walk())
    assert ids == sorted((a.id for a in fake.hooks.attempts), reverse=True)
    assert "cursor=v1_" in links[0] and 'rel="next"' in links[0] and links[-1] == ""
    assert not_modified
    item = fake.hooks.attempts[0].view()
    assert set(item) >= {"id", "guid", "delivered_at", "redelivery", "duration", "status", "status_code",
                         "event", "action", "installation_id", "repository_id"}  # fmt: skip


def test_redelivery_wants_the_app_jwt_keeps_the_guid_and_unknown_ids_are_404(
    served: tuple[FakeGitHub, Receiver, str],
) -> None:
    fake, receiver, url = served
    receiver.status = 500
    failed = fake.hooks.deliver("pull_request", {"action": "opened"})
    assert failed is not None
    receiver.status = 202
    app = app_of(url)

    async def ask(delivery_id: int, token: str) -> int:
        try:
            await app.api.request("POST", f"/app/hook/deliveries/{delivery_id}/attempts", token=token)
        except GitHubApiError as error:
            return error.status
        return 202

    async def asks() -> list[int]:
        answers = [await ask(failed.id, "ghs_not_a_jwt"), await ask(failed.id + 999, app.app_jwt()),
                   await ask(failed.id, app.app_jwt())]  # fmt: skip
        for _ in range(200):  # GitHub sends the redelivery after it answered
            if len(fake.hooks.of_guid(failed.guid)) == 2:
                break
            await asyncio.sleep(0.05)
        return answers

    assert asyncio.run(asks()) == [401, 404, 202]
    again = fake.hooks.of_guid(failed.guid)[-1]
    assert again.redelivery and again.ok and again.id != failed.id
    assert receiver.got[-1][0]["x-github-delivery"] == failed.guid
    listed = httpx.get(
        f"{url}/app/hook/deliveries", params={"redelivery": "true"},
        headers={"Authorization": f"Bearer {app.app_jwt()}", "Accept": "application/vnd.github+json",
                 "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "t"},
    ).json()  # fmt: skip
    assert [d["id"] for d in listed] == [again.id]


def attempt(id: int, guid: str, code: int) -> Attempt:
    return Attempt(id, guid, datetime.now(UTC), code, "OK" if code < 300 else "failed", "pull_request", None)


def test_an_event_is_redelivered_only_when_none_of_its_attempts_got_a_2xx_and_then_its_newest() -> None:
    attempts = [
        attempt(1, "a", 502), attempt(2, "b", 200), attempt(3, "a", 503),
        attempt(4, "c", 500), attempt(5, "c", 202), attempt(6, "d", 0),
    ]  # fmt: skip
    assert [(a.guid, a.id) for a in to_redeliver(attempts)] == [("a", 3), ("d", 6)]
