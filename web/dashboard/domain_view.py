"""What the settings page shows of a project's preview domain (Fly): the setting, which only a
repository admin may change, and the DNS records the operator adds for it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlmodel import col, select

from activities.app_names import app_name as make_app_name
from config import Settings
from models import Deployment, DeploymentStatus, Project
from models.preview_domains import pointing_record
from web.cookie_scope import site_shared_with_dashboard
from web.dashboard.access import access_to
from web.dashboard.signed_in import SignedIn
from web.deps import Services
from web.permissions import Action

# Deployments whose name does not answer yet: their exact records are listed on the settings page.
WAITING_SHOWN = 10


async def domain_context(
    services: Services, signed_in: SignedIn, project: Project, *, value: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What the settings page shows of the preview domain: the form (for an admin), the DNS record
    each preview needs, and the records still missing for deployments waiting on them."""
    access = await access_to(services, signed_in, project.id, Action.SETTINGS)
    settings = services.settings
    example = make_app_name(
        pr_number=1, repo_full_name=project.github_repo_full_name, project_id=str(project.id)
    )
    records = []
    waiting: list[dict[str, Any]] = []
    shared_site = None
    if project.preview_domain:
        records = [_pattern(settings, example, project.preview_domain)]
        shared_site = site_shared_with_dashboard(settings, f"{example}.{project.preview_domain}")
        async with services.db.session() as session:
            rows = (
                await session.exec(
                    select(Deployment)
                    .where(
                        Deployment.project_id == project.id, Deployment.status == DeploymentStatus.DEPLOYING
                    )
                    .where(col(Deployment.custom_domain).is_not(None))
                    .order_by(col(Deployment.created_at).desc())
                    .limit(WAITING_SHOWN)
                )
            ).all()
        waiting = [
            {"pr_number": row.pr_number, **(row.custom_domain or {})}
            for row in rows
            if not (row.custom_domain or {}).get("serving")
        ]
    return {
        "domain": {
            "value": (project.preview_domain or "") if value is None else value,
            "error": error,
            "may_change": access.may(Action.DOMAIN),
            "on_fly": settings.previewd_platform == "fly",
            "local_domain": settings.previewd_preview_domain,
            "example_app": example,
            "records": records,
            "waiting": waiting,
            "shared_site": shared_site,
        }
    }


def _pattern(settings: Settings, app: str, domain: str) -> dict[str, str]:
    """The record that points `{app}.{domain}` at the app's own edge name ({app}.fly.dev)."""
    edge = urlsplit(settings.preview_url(app)).hostname or ""
    return pointing_record(f"{app}.{domain}", edge).as_dict()
