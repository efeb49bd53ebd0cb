"""Where a project may be cloned from, and git itself refusing every other transport."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from config import Settings
from models.clone_source import CloneRules, merge_git_config
from models.projects import DeploymentConfig

GITHUB = CloneRules(github_url="https://github.com")
LOCAL = CloneRules(github_url="https://github.com", local_paths=True)


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch /tmp/pwned;",
        "-uhttps://github.com/a/b",
        "ext::sh -c touch% /tmp/pwned",
        "file:///srv/other-project",
        "/srv/other-project",
        "http://internal/acme/app.git",
        "http://github.com/acme/app.git",
        "https://internal.example/acme/app.git",
        "https://x-access-token:abc@github.com/acme/app.git",
        "https://github.com/",
        "ssh://git@github.com/acme/app.git",
        "git@github.com:acme/app.git",
        "https://github.com/acme/app.git\n--upload-pack=x",
    ],
)
def test_github_mode_clones_only_https_on_the_github_host(url: str) -> None:
    assert GITHUB.problem(url) is not None


def test_the_github_host_and_the_hosts_the_operator_allows_are_accepted() -> None:
    assert GITHUB.problem("https://github.com/acme/app.git") is None
    assert GITHUB.problem(None) is None
    rules = CloneRules(github_url="https://github.com", allowed_hosts=frozenset({"git.example.com"}))
    assert rules.problem("https://git.example.com/acme/app.git") is None
    assert rules.problem("http://git.example.com/acme/app.git") is not None


def test_local_paths_only_in_local_mode_and_never_file_urls_or_options() -> None:
    assert LOCAL.problem("/srv/demo-repo") is None
    for url in ("file:///srv/demo-repo", "--upload-pack=x", "ext::sh", "relative/path", "http://internal/x"):
        assert LOCAL.problem(url) is not None, url
    assert LOCAL.protocols("/srv/demo-repo") == ["file"]
    assert GITHUB.protocols("https://github.com/a/b") == ["https"]


def test_settings_allow_local_paths_only_without_github_sign_in(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREVIEWD_ALLOWED_CLONE_HOSTS", " Git.Example.com, ,other.example ")
    assert Settings().clone_rules.local_paths
    assert Settings().clone_rules.allowed_hosts == {"git.example.com", "other.example"}
    monkeypatch.setenv("GITHUB_CLIENT_ID", "Iv1.x")
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", "s")
    assert not Settings().clone_rules.local_paths
    assert Settings().clone_rules.problem("/srv/repo") is not None


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../Dockerfile", "a/../../Dockerfile", "-f", "~/x", "C:\\x", "a\\..\\b"]
)
def test_dockerfile_path_stays_inside_the_checkout(path: str) -> None:
    with pytest.raises(ValueError, match="dockerfile_path"):
        DeploymentConfig.model_validate({"dockerfile_path": path})
    assert DeploymentConfig.model_validate({"dockerfile_path": "docker/Dockerfile.prod"}).dockerfile_path


def test_git_refuses_ext_and_file_transports_even_if_a_url_got_past_the_check(tmp_path: Path) -> None:
    """Defence in depth: the environment the clone runs git with allows https only."""
    marker = tmp_path / "pwned"
    other = tmp_path / "other"
    subprocess.run(["git", "init", "--quiet", str(other)], check=True)
    env = merge_git_config({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, [
        ("protocol.allow", "never"), ("protocol.https.allow", "always"),
    ])  # fmt: skip
    target = tmp_path / "clone"
    target.mkdir()
    subprocess.run(["git", "init", "--quiet"], cwd=target, check=True, env=env)
    for url in (f"ext::sh -c touch% {marker}", f"file://{other}", str(other)):
        fetched = subprocess.run(
            ["git", "fetch", "--quiet", "--depth", "1", "--", url, "HEAD"],
            cwd=target, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert fetched.returncode != 0, url
        assert "not allowed" in fetched.stderr or "transport" in fetched.stderr, fetched.stderr
    # And `--` keeps an option-looking URL a repository name.
    fetched = subprocess.run(
        ["git", "fetch", "--", f"--upload-pack=touch {marker}", "HEAD"],
        cwd=target, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert fetched.returncode != 0
    assert not marker.exists()
