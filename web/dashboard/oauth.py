"""Sign in with GitHub: authlib's Starlette OAuth client against `{GITHUB_URL}/login/oauth/*`.

authlib keeps the `state` it sends in the session and refuses a callback whose `state` differs.
"""

from __future__ import annotations

import warnings

from config import Settings

with warnings.catch_warnings():
    # authlib warns about its httpx integration moving; the API used here stays in 1.x.
    warnings.simplefilter("ignore")
    from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App


def github_oauth(settings: Settings) -> StarletteOAuth2App | None:
    if not settings.github_sign_in:
        return None
    oauth = OAuth()
    client: StarletteOAuth2App = oauth.register(
        name="github",
        client_id=settings.github_client_id,
        client_secret=settings.github_client_secret,
        authorize_url=f"{settings.github_url}/login/oauth/authorize",
        access_token_url=f"{settings.github_url}/login/oauth/access_token",
        # A GitHub App's user token carries the App's permissions; no scope is needed.
        client_kwargs={"timeout": 10.0},
    )
    return client
