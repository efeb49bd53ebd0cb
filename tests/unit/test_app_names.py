"""activities/app_names.py: `pr-{n}-{repo}` preview app names."""

from __future__ import annotations

import re

import pytest

from activities.app_names import HASH_LENGTH, MAX_LENGTH, app_name, project_hash

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
PROJECT_A = "0b7e5d0e-3c47-4c1e-9d9a-6f4f1b8a0c11"
PROJECT_B = "5f0c2a8e-8a55-4b7a-b1c2-0d9e6f7a8b22"

WEIRD_REPOS = [
    "Codertocat/Hello-World",
    "owner/my.repo_name",
    "Owner/UPPER.Case_Repo",
    "owner/...",
    "owner/___",
    "owner/-._-",
    "owner/--leading-and-trailing--",
    "owner/a..b__c--d",
    "owner/café-ünïcode",
    "owner/" + "x" * 100,
    "owner/" + "ab-" * 40,
    "owner/",
    "no-slash-repo",
    "",
]


def assert_dns_safe(name: str) -> None:
    assert len(name) <= MAX_LENGTH, name
    assert DNS_LABEL.match(name), name
    assert "--" not in name, name
    assert name == name.lower()


def test_plain_form_is_pr_number_and_repo() -> None:
    assert (
        app_name(pr_number=2, repo_full_name="Codertocat/Hello-World", project_id=PROJECT_A)
        == "pr-2-hello-world"
    )


def test_only_the_repo_part_of_full_name_is_used() -> None:
    name = app_name(pr_number=7, repo_full_name="some-org/api", project_id=PROJECT_A)
    assert name == "pr-7-api"


@pytest.mark.parametrize("repo", WEIRD_REPOS)
@pytest.mark.parametrize("pr_number", [1, 42, 123456789])
@pytest.mark.parametrize("force_hash", [False, True])
def test_names_are_dns_safe_and_at_most_63_chars(repo: str, pr_number: int, force_hash: bool) -> None:
    assert_dns_safe(
        app_name(pr_number=pr_number, repo_full_name=repo, project_id=PROJECT_A, force_hash=force_hash)
    )


@pytest.mark.parametrize("length", range(40, 75))
def test_truncation_never_leaves_double_or_trailing_hyphen(length: int) -> None:
    # Hyphens at every other position, so some cut points fall just after a hyphen.
    repo = ("a-" * 40)[:length]
    assert_dns_safe(app_name(pr_number=12, repo_full_name=f"o/{repo}", project_id=PROJECT_A))


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("owner/my.repo_name", "pr-1-my-repo-name"),
        ("Owner/UPPER.Case_Repo", "pr-1-upper-case-repo"),
        ("owner/a..b__c--d", "pr-1-a-b-c-d"),
        ("owner/--leading-and-trailing--", "pr-1-leading-and-trailing"),
        ("owner/café", "pr-1-caf"),
        ("owner/...", "pr-1-app"),
        ("owner/___", "pr-1-app"),
        ("owner/-._-", "pr-1-app"),
        ("owner/", "pr-1-app"),
    ],
)
def test_weird_repo_names_are_normalised(repo: str, expected: str) -> None:
    assert app_name(pr_number=1, repo_full_name=repo, project_id=PROJECT_A) == expected


def test_name_of_exactly_63_chars_has_no_hash() -> None:
    repo = "r" * (MAX_LENGTH - len("pr-5-"))
    name = app_name(pr_number=5, repo_full_name=f"o/{repo}", project_id=PROJECT_A)
    assert name == f"pr-5-{repo}"
    assert len(name) == MAX_LENGTH


def test_too_long_name_gets_project_hash_suffix() -> None:
    repo = "r" * (MAX_LENGTH - len("pr-5-") + 1)
    name = app_name(pr_number=5, repo_full_name=f"o/{repo}", project_id=PROJECT_A)
    assert len(name) <= MAX_LENGTH
    assert name.endswith(f"-{project_hash(PROJECT_A)}")
    assert name.startswith("pr-5-rrrr")


def test_forced_hash_is_added_to_a_short_name() -> None:
    name = app_name(pr_number=3, repo_full_name="o/api", project_id=PROJECT_A, force_hash=True)
    assert name == f"pr-3-api-{project_hash(PROJECT_A)}"


def test_project_hash_is_short_lowercase_hex() -> None:
    digest = project_hash(PROJECT_A)
    assert len(digest) == HASH_LENGTH
    assert re.fullmatch(r"[0-9a-f]+", digest)


@pytest.mark.parametrize("force_hash", [False, True])
def test_name_is_stable_for_the_same_project(force_hash: bool) -> None:
    kwargs = {"pr_number": 9, "repo_full_name": "o/" + "long-name" * 10, "project_id": PROJECT_A}
    assert app_name(**kwargs, force_hash=force_hash) == app_name(**kwargs, force_hash=force_hash)  # type: ignore[arg-type]


def test_hashed_names_differ_between_projects() -> None:
    long_repo = "o/" + "long-name" * 10
    assert app_name(pr_number=9, repo_full_name=long_repo, project_id=PROJECT_A) != app_name(
        pr_number=9, repo_full_name=long_repo, project_id=PROJECT_B
    )
    assert app_name(pr_number=9, repo_full_name="o/api", project_id=PROJECT_A, force_hash=True) != app_name(
        pr_number=9, repo_full_name="o/api", project_id=PROJECT_B, force_hash=True
    )


def test_plain_names_of_two_projects_are_equal_without_force_hash() -> None:
    # Callers must pass force_hash when another project would get the same plain name.
    assert app_name(pr_number=1, repo_full_name="a/api", project_id=PROJECT_A) == app_name(
        pr_number=1, repo_full_name="b/api", project_id=PROJECT_B
    )


def test_different_pr_numbers_give_different_names() -> None:
    long_repo = "o/" + "z" * 80
    names = {app_name(pr_number=n, repo_full_name=long_repo, project_id=PROJECT_A) for n in (1, 2, 10, 11)}
    assert len(names) == 4
