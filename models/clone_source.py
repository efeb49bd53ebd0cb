"""Where a project may be cloned from: checked when its config is saved, and again before each clone.

A clone URL is handed to `git fetch`, which understands far more than URLs: `--upload-pack=CMD`
(an option), `ext::CMD` (runs a command), `file://` and plain paths (another project's checkout on
this host), `http://internal/` (a host only the worker reaches). So only `https://` on the GitHub
host (or hosts the operator lists) is accepted; a local path only in the single-user local mode,
where the one person who saves it is also the one who runs the worker (`previewd up`'s demo).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class CloneRules:
    github_url: str
    allowed_hosts: frozenset[str] = frozenset()
    local_paths: bool = False

    def _own_github(self, url: str) -> bool:
        # GITHUB_URL is the operator's choice (https in production; the tests' loopback fake speaks
        # http): a URL on it, exactly that scheme and host, is as trusted as the default.
        github = urlsplit(self.github_url)
        parts = urlsplit(url)
        return parts.scheme == github.scheme and parts.netloc.lower() == github.netloc.lower()

    def problem(self, url: str | None) -> str | None:
        """None when `url` may be cloned, else why not (a sentence for the person who saved it; it
        never repeats the URL, which may hold credentials)."""
        if not url:
            return None
        host = urlsplit(self.github_url).hostname or "github.com"
        wanted = f"must be an https:// URL on {host}" + (
            f" or {', '.join(sorted(self.allowed_hosts))}" if self.allowed_hosts else ""
        )
        if any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in url):
            return f"{wanted}, without spaces or control characters"
        if url.startswith("/"):
            if not self.local_paths:
                return f"{wanted} (a local path is accepted only in local mode, without GitHub sign-in)"
            return None if "::" not in url else "a local path cannot contain '::'"
        try:
            parts = urlsplit(url)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            return wanted
        if not port_ok or not parts.hostname or not parts.path.strip("/"):
            return wanted
        if parts.username is not None or parts.password is not None:
            return f"{wanted}, without a user name or password in it (use the GitHub App's access)"
        if self._own_github(url):
            return None
        if parts.scheme != "https":
            return wanted
        if parts.hostname.lower() == host.lower() or parts.hostname.lower() in self.allowed_hosts:
            return None
        return f"{wanted} (PREVIEWD_ALLOWED_CLONE_HOSTS lists the other hosts this previewd accepts)"

    def protocols(self, url: str) -> list[str]:
        """The git transports `url` needs, once `problem(url)` said it may be cloned: every other one
        (ext, file, ssh, git, http) stays forbidden to git, redirects and submodules included."""
        if url.startswith("/"):
            return ["file"]
        return [urlsplit(url).scheme]


def merge_git_config(env: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Append `pairs` to the GIT_CONFIG_COUNT/KEY_n/VALUE_n entries already in `env`."""
    count = int(env.get("GIT_CONFIG_COUNT", "0"))
    merged = dict(env)
    for key, value in pairs:
        merged[f"GIT_CONFIG_KEY_{count}"] = key
        merged[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    merged["GIT_CONFIG_COUNT"] = str(count)
    return merged
