"""An API token's user's role, read without their OAuth session (a token is used by scripts, long
after any sign-in): the App's installation token asks GitHub
`GET /repos/{owner}/{repo}/collaborators/{username}/permission` for the project's repository. The user
is the GitHub account they signed in with (users.login, kept current at each sign-in)."""

from __future__ import annotations

from collections.abc import Mapping

from activities.github.app_auth import GitHubApp, load_private_key
from activities.github.client import GitHubApi, GitHubApiError
from models import Project, User
from web.deps import Services
from web.permissions import Role, role_from_collaborator
from web.roles import GitHubSilent, role_on

TIMEOUT_SECONDS = 10.0
# One App per process (it caches installation tokens), made on first use.
_apps: dict[str, GitHubApp] = {}


def _app(services: Services) -> GitHubApp | None:
    settings = services.settings
    if not (settings.github_app_id and settings.github_app_private_key):
        return None
    if settings.github_app_id not in _apps:
        key = load_private_key(settings.github_app_private_key.get_secret_value())
        api = GitHubApi(settings.github_api_url, TIMEOUT_SECONDS, attempts=1)
        _apps[settings.github_app_id] = GitHubApp(app_id=settings.github_app_id, private_key_pem=key, api=api)
    return _apps[settings.github_app_id]


async def token_role(services: Services, user: User, project: Project) -> Role:
    async def fetch() -> Mapping[int, Role]:
        app = _app(services)
        if app is None or project.github_installation_id is None:
            return {}  # nobody can ask GitHub: no role
        try:
            token = await app.installation_token(project.github_installation_id)
            body = await app.api.request(
                "GET",
                f"/repos/{project.github_repo_full_name}/collaborators/{user.login}/permission",
                token=token,
            )
        except GitHubApiError as error:
            if error.status in (403, 404):
                return {}  # not a collaborator, or the repository is out of the installation's reach
            raise GitHubSilent() from None
        return {project.github_repo_id: role_from_collaborator(body)}

    return await role_on(services, user, project, fetch)
