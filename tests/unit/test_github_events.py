"""web/github_events.py over the real octokit example payloads in /work/shared/github-payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from outbox.intents import Intent
from web.github_events import MalformedPayload, PullRequestEvent, pull_request_event

PAYLOAD_DIR = Path(__file__).resolve().parents[3] / "shared" / "github-payloads"

PUSH_FILES = {
    "opened": "pull_request.opened.payload.json",
    "reopened": "pull_request.reopened.payload.json",
    "synchronize": "pull_request.synchronize.payload.json",
    "ready_for_review": "pull_request.ready_for_review.with-installation.payload.json",
}
CLOSED_FILE = "pull_request.closed.payload.json"
IGNORED_FILES = {
    "labeled": "pull_request.labeled.payload.json",
    "converted_to_draft": "pull_request.converted_to_draft.with-installation.payload.json",
}


def load_payload(name: str) -> dict[str, Any]:
    """A fresh copy of a sample payload. A missing sample directory is a failure, never a skip."""
    if not PAYLOAD_DIR.is_dir():
        pytest.fail(f"GitHub payload samples are missing: {PAYLOAD_DIR}")
    path = PAYLOAD_DIR / name
    if not path.is_file():
        pytest.fail(f"GitHub payload sample is missing: {path}")
    payload: dict[str, Any] = json.loads(path.read_text())
    return payload


def opened() -> dict[str, Any]:
    return load_payload(PUSH_FILES["opened"])


def test_payload_samples_directory_exists() -> None:
    assert PAYLOAD_DIR.is_dir(), f"missing {PAYLOAD_DIR}"
    for name in [*PUSH_FILES.values(), CLOSED_FILE, *IGNORED_FILES.values()]:
        assert (PAYLOAD_DIR / name).is_file(), name


@pytest.mark.parametrize("action", sorted(PUSH_FILES))
def test_push_actions_map_to_push_with_head_sha_title_and_author(action: str) -> None:
    payload = load_payload(PUSH_FILES[action])
    assert payload["action"] == action
    pull = payload["pull_request"]

    event = pull_request_event(payload["action"], payload, "delivery-1")

    assert event == PullRequestEvent(
        repo_id=payload["repository"]["id"],
        pr_number=payload["number"],
        intent=Intent.PUSH,
        args={
            "sha": pull["head"]["sha"],
            "title": pull["title"],
            "author": pull["user"]["login"],
            "delivery_id": "delivery-1",
            "fork": False,
            "updated_at": pull["updated_at"],
            # What a fork's previewd.toml is read at until its head is approved (issue 13).
            "head_ref": pull["head"]["ref"],
            "base_ref": pull["base"]["ref"],
            "base_sha": pull["base"]["sha"],
        },
    )


def test_opened_sample_values_are_the_documented_ones() -> None:
    event = pull_request_event("opened", opened(), "d")
    assert event is not None
    assert event.repo_id == 186853002
    assert event.pr_number == 2
    assert event.args["sha"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert event.args["title"] == "Update the README with new information."
    assert event.args["author"] == "Codertocat"


def test_push_args_are_json_serialisable() -> None:
    event = pull_request_event("synchronize", load_payload(PUSH_FILES["synchronize"]), "d")
    assert event is not None
    assert json.loads(json.dumps(event.args)) == event.args


def test_closed_maps_to_close_not_merged_in_sample() -> None:
    payload = load_payload(CLOSED_FILE)
    assert payload["pull_request"]["merged"] is False

    event = pull_request_event("closed", payload, "delivery-close")

    assert event == PullRequestEvent(
        repo_id=186853002,
        pr_number=2,
        intent=Intent.CLOSE,
        args={"delivery_id": "delivery-close", "merged": False, "reason": ""},
    )


def test_closed_merged_variant_sets_merged_flag() -> None:
    payload = load_payload(CLOSED_FILE)
    payload["pull_request"]["merged"] = True
    payload["pull_request"]["merged_at"] = "2019-05-15T15:25:00Z"

    event = pull_request_event("closed", payload, "delivery-merge")

    assert event is not None
    assert event.intent == Intent.CLOSE
    assert event.args == {"delivery_id": "delivery-merge", "merged": True, "reason": ""}


@pytest.mark.parametrize("action", sorted(IGNORED_FILES))
def test_labeled_and_converted_to_draft_are_ignored(action: str) -> None:
    payload = load_payload(IGNORED_FILES[action])
    assert payload["action"] == action
    assert pull_request_event(payload["action"], payload, "d") is None


@pytest.mark.parametrize("action", [None, "", "edited", "assigned", "review_requested", "OPENED"])
def test_other_actions_are_ignored(action: str | None) -> None:
    assert pull_request_event(action, opened(), "d") is None


def test_ignored_action_does_not_validate_payload() -> None:
    assert pull_request_event("labeled", {}, "d") is None


def _without_pull_request(p: dict[str, Any]) -> None:
    del p["pull_request"]


def _pull_request_null(p: dict[str, Any]) -> None:
    p["pull_request"] = None


def _sha_not_hex(p: dict[str, Any]) -> None:
    p["pull_request"]["head"]["sha"] = "zz26c3e57ca3a959ca5aad62de7213c562f8c821"


def _sha_with_shell_text(p: dict[str, Any]) -> None:
    p["pull_request"]["head"]["sha"] = "ec26c3e; rm -rf /"


def _sha_too_short(p: dict[str, Any]) -> None:
    p["pull_request"]["head"]["sha"] = "ec26c3"


def _sha_missing(p: dict[str, Any]) -> None:
    del p["pull_request"]["head"]["sha"]


def _head_missing(p: dict[str, Any]) -> None:
    del p["pull_request"]["head"]


def _repository_missing(p: dict[str, Any]) -> None:
    del p["repository"]


def _repository_null(p: dict[str, Any]) -> None:
    p["repository"] = None


def _repository_id_not_int(p: dict[str, Any]) -> None:
    p["repository"]["id"] = "Hello-World"


def _number_not_int(p: dict[str, Any]) -> None:
    p["number"] = "two"


MALFORMATIONS = [
    _without_pull_request,
    _pull_request_null,
    _sha_not_hex,
    _sha_with_shell_text,
    _sha_too_short,
    _sha_missing,
    _head_missing,
    _repository_missing,
    _repository_null,
    _repository_id_not_int,
    _number_not_int,
]


@pytest.mark.parametrize("breakage", MALFORMATIONS, ids=lambda f: f.__name__.lstrip("_"))
def test_malformed_push_payload_raises_malformed_payload(breakage: Any) -> None:
    payload = opened()
    breakage(payload)
    with pytest.raises(MalformedPayload):
        pull_request_event("opened", payload, "d")


@pytest.mark.parametrize(
    "breakage", [_without_pull_request, _repository_missing, _repository_null], ids=lambda f: f.__name__
)
def test_malformed_close_payload_raises_malformed_payload(breakage: Any) -> None:
    payload = load_payload(CLOSED_FILE)
    breakage(payload)
    with pytest.raises(MalformedPayload):
        pull_request_event("closed", payload, "d")


def test_malformed_payload_is_a_value_error() -> None:
    assert issubclass(MalformedPayload, ValueError)


def test_fork_pull_request_still_maps_to_push_on_base_repository() -> None:
    payload = opened()
    head_repo = payload["pull_request"]["head"]["repo"]
    head_repo.update({"id": 999999, "fork": True, "full_name": "someone/Hello-World"})
    payload["pull_request"]["head"]["label"] = "someone:changes"

    event = pull_request_event("opened", payload, "d")

    assert event is not None
    assert event.intent == Intent.PUSH
    assert event.repo_id == 186853002
    assert event.args["sha"] == payload["pull_request"]["head"]["sha"]


def test_deleted_fork_with_null_head_repo_still_maps_to_push() -> None:
    payload = load_payload(PUSH_FILES["synchronize"])
    payload["pull_request"]["head"]["repo"] = None

    event = pull_request_event("synchronize", payload, "d")

    assert event is not None
    assert event.intent == Intent.PUSH
    assert event.args["sha"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def test_number_falls_back_to_pull_request_number() -> None:
    payload = opened()
    del payload["number"]
    payload["pull_request"]["number"] = 41
    event = pull_request_event("opened", payload, "d")
    assert event is not None
    assert event.pr_number == 41


def test_uppercase_hex_sha_is_accepted() -> None:
    payload = opened()
    payload["pull_request"]["head"]["sha"] = payload["pull_request"]["head"]["sha"].upper()
    event = pull_request_event("opened", payload, "d")
    assert event is not None
    assert event.args["sha"] == payload["pull_request"]["head"]["sha"]


def test_long_title_and_author_are_truncated() -> None:
    payload = opened()
    payload["pull_request"]["title"] = "t" * 5000
    payload["pull_request"]["user"]["login"] = "a" * 500
    event = pull_request_event("opened", payload, "d")
    assert event is not None
    assert event.args["title"] == "t" * 300
    assert event.args["author"] == "a" * 100


def test_missing_title_and_user_give_empty_strings() -> None:
    payload = opened()
    payload["pull_request"]["title"] = None
    payload["pull_request"]["user"] = None
    event = pull_request_event("opened", payload, "d")
    assert event is not None
    assert event.args["title"] == ""
    assert event.args["author"] == ""


def test_payload_is_not_mutated() -> None:
    payload = opened()
    before = copy.deepcopy(payload)
    pull_request_event("opened", payload, "d")
    assert payload == before
