"""Signed `pull_request` deliveries in GitHub's payload shape, for the CLI, the demo and benchmarks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from webhook_signature import sign


def pull_request_payload(
    *,
    action: str,
    number: int,
    sha: str,
    repo_id: int,
    repo_full_name: str,
    title: str = "",
    author: str = "previewd",
    head_ref: str = "",
    merged: bool = False,
    draft: bool = False,
    head_repo: dict[str, Any] | None | str = "same",
    updated_at: str | None = None,
    base_sha: str = "0" * 40,
) -> dict[str, Any]:
    """`head_repo`: "same" (a branch of the repository), None (a fork GitHub no longer has), or the
    fork's repository object."""
    owner, name = repo_full_name.split("/", 1)
    user = {"login": author, "id": 1, "type": "User"}
    repository = {
        "id": repo_id,
        "name": name,
        "full_name": repo_full_name,
        "private": False,
        "owner": {"login": owner, "id": 1, "type": "User"},
        "fork": False,
        "default_branch": "main",
    }
    head = repository if head_repo == "same" else head_repo
    closed = action == "closed"
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "closed" if closed else "open",
            "title": title or f"PR #{number}",
            "user": user,
            "draft": draft,
            "merged": merged and closed,
            "updated_at": updated_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "head": {
                "label": f"{owner}:{head_ref}",
                "ref": head_ref or f"pr-{number}",
                "sha": sha,
                "user": user,
                "repo": head,
            },
            "base": {
                "label": f"{owner}:main",
                "ref": "main",
                # GitHub's null sha when the caller does not know the base (previewd then reads no
                # previewd.toml at a base: a fork waits for approval).
                "sha": base_sha,
                "user": user,
                "repo": repository,
            },
        },
        "repository": repository,
        "sender": user,
    }


def send_webhook(
    client: httpx.Client, *, secret: str, event: str, payload: dict[str, Any], delivery_id: str | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
        "User-Agent": "GitHub-Hookshot/previewd-cli",
    }
    return client.post("/webhooks/github", content=body, headers=headers)
