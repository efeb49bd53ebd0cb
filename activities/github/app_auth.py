"""GitHub App authentication: a short-lived App JWT (RS256, joserfc) exchanged for installation
tokens, cached per installation until shortly before they expire."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import RSAKey

from activities.github.client import GitHubApi, GitHubApiError

# GitHub: iat up to 60 s in the past (clock drift), exp at most 10 minutes after iat.
IAT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 600
REFRESH_BEFORE_EXPIRY_SECONDS = 300
TOKEN_WAIT_SECONDS = 45.0


def load_private_key(value: str) -> bytes:
    """GITHUB_APP_PRIVATE_KEY: the PEM text itself, or a path to it."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.replace("\\n", "\n").encode()
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError("GITHUB_APP_PRIVATE_KEY is neither PEM text nor a readable file")
    return path.read_bytes()


@dataclass
class _Cached:
    token: str
    expires_at: float


class GitHubApp:
    def __init__(self, *, app_id: str, private_key_pem: bytes, api: GitHubApi) -> None:
        self.app_id = app_id
        # Parsed once: a key that is no RSA private key fails here, when the worker starts.
        self._key = RSAKey.import_key(private_key_pem)
        self.api = api
        self._tokens: dict[int, _Cached] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def app_jwt(self, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time()) - IAT_BACKDATE_SECONDS
        claims = {"iat": issued, "exp": issued + JWT_LIFETIME_SECONDS, "iss": self.app_id}
        return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, self._key, algorithms=["RS256"])

    async def installation_token(self, installation_id: int) -> str:
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached and cached.expires_at - time.time() > REFRESH_BEFORE_EXPIRY_SECONDS:
                return cached.token
            path = f"/app/installations/{installation_id}/access_tokens"
            # Every clone and report of the installation waits on this lock: a GitHub that answers
            # slowly (five tries of up to 30 s each) must not hold them all for minutes.
            try:
                async with asyncio.timeout(TOKEN_WAIT_SECONDS):
                    answer = await self.api.request("POST", path, token=self.app_jwt())
            except TimeoutError:
                raise GitHubApiError(
                    503, f"no installation token within {TOKEN_WAIT_SECONDS:g}s", "POST", path,
                    answered=False,
                ) from None  # fmt: skip
            expires = datetime.fromisoformat(str(answer["expires_at"]).replace("Z", "+00:00")).timestamp()
            self._tokens[installation_id] = _Cached(str(answer["token"]), expires)
            return str(answer["token"])
