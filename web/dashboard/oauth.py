"""Sign in with GitHub: authlib's Starlette OAuth client against `{GITHUB_URL}/login/oauth/*`.

authlib keeps the `state` it sends in the session and refuses a callback whose `state` differs.
"""

from __future__ import annotations

import warnings

# authlib.deprecate installs an "always" filter for its warnings when first imported: import it before
# the narrower filter below goes on top of it.
from authlib.deprecate import AuthlibDeprecationWarning

from config import Settings

with warnings.catch_warnings():
    # authlib 1.9 looks for `httpx2` and, finding httpx instead, announces that httpx support moves
    # (unrelated to JWTs). The OAuth client API used here stays in 1.x; other warnings still show.
    warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App


def github_oauth(settings: Settings) -> StarletteOAuth2App | None:
    if not settings.github_sign_in:
        return None
    oauth = OAuth()
    client: StarletteOAuth2App = oauth.register(
        name="github",
        client_id=settings.github_client_id,
        client_secret=settings.github_client_secret.get_secret_value()
        if settings.github_client_secret
        else None,
        authorize_url=f"{settings.github_url}/login/oauth/authorize",
        access_token_url=f"{settings.github_url}/login/oauth/access_token",
        # A GitHub App's user token carries the App's permissions; no scope is needed.
        client_kwargs={"timeout": 10.0},
    )
    return client
