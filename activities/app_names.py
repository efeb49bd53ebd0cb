"""Preview app names: `pr-{number}-{repo}`, DNS-safe, at most 63 characters.

Fly.io app names are global, so when the plain name is cut short or another project of ours would
get the same one, a short stable hash of the project keeps it unique.
"""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 63
HASH_LENGTH = 6


def _dns_label(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def project_hash(project_id: str) -> str:
    return hashlib.sha256(project_id.encode()).hexdigest()[:HASH_LENGTH]


def app_name(*, pr_number: int, repo_full_name: str, project_id: str, force_hash: bool = False) -> str:
    repo = _dns_label(repo_full_name.rsplit("/", 1)[-1]) or "app"
    plain = f"pr-{pr_number}-{repo}"
    if len(plain) <= MAX_LENGTH and not force_hash:
        return plain
    suffix = f"-{project_hash(project_id)}"
    return f"{plain[: MAX_LENGTH - len(suffix)].rstrip('-')}{suffix}"
