"""Which images a project's Fly previews may run: a public registry's, or one of its OWN preview apps'
repositories on registry.fly.io, never another project's.

Fly's registry serves every app of the organization to every machine of it, so without this rule a
project's settings could run (and so read) the image another project's PR built. An app is a
project's own when previewd allocated its name to that project: its deployments hold the name, and
no other project's do (allocation gives each name to one project, `activities/store.py`).
"""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.deployments import Deployment
from models.fly_config import FLY_REGISTRY, IMAGE, fly_registry_app, image_host

FIELD = "fly_config.image"


async def image_problem(
    session: AsyncSession, *, project_id: uuid.UUID | None, image: str | None
) -> str | None:
    """Why `image` may not run as this project's previews (naming the field), or None if it may.
    `project_id` None: a project not saved yet, which has no apps of its own."""
    if image is None:
        return None
    if not IMAGE.match(image):
        return f"{FIELD}: {image!r} is not an image reference (e.g. nginx:1.27 or ghcr.io/org/app:tag)"
    host = (image_host(image) or "").split(":")[0]
    if host == "fly.io" or (host.endswith(".fly.io") and host != FLY_REGISTRY):
        return f"{FIELD}: {host} is not a registry; Fly's is {FLY_REGISTRY}"
    app = fly_registry_app(image)
    if app is None:
        return None
    holders = select(Deployment.project_id).where(col(Deployment.app_name) == app).distinct()
    owners = set((await session.exec(holders)).all())
    if project_id is not None and owners == {project_id}:
        return None
    return (
        f"{FIELD}: {FLY_REGISTRY}/{app} is not one of this project's preview apps; name a public image "
        f"or {FLY_REGISTRY}/<one of this project's pr-* apps>"
    )
