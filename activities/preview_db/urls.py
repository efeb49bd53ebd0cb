"""Where the preview databases' Postgres is, and the DATABASE_URL each PR's commands are given.

Two places it can be:
- the embedded preview cluster (runtime/preview_postgres.py, the default): reached by its socket,
  which a sandbox sees at SOCKET_INSIDE (bound there, nothing else of the host) and an unsandboxed
  step at its real path;
- the operator's Postgres, PREVIEWD_PREVIEW_DATABASE_URL: a PR's URL keeps its host, port and query
  (sslmode, say) and has the PR's own role, password and database instead. On Fly that host must be
  reachable from the project's private network (`<cluster>.flycast`, `<app>.internal`).

A PR's URL puts a socket directory in the host part, percent-encoded (`postgresql://u:p@%2Frun%2F…/db`):
the one form both libpq and dj-database-url read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from activities.sandbox.spec import ReadOnly
from config import Settings
from runtime.preview_postgres import SOCKET_INSIDE, PreviewCluster


@dataclass
class PreviewPostgres:
    """One worker's way to the preview databases' Postgres; the embedded cluster is started on first
    use (and joined when it runs already)."""

    settings: Settings
    _admin_url: str | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def embedded(self) -> bool:
        return self.settings.previewd_preview_database_url is None

    @property
    def cluster(self) -> PreviewCluster:
        return PreviewCluster(self.settings.data_dir)

    async def admin_url(self) -> str:
        operator = self.settings.previewd_preview_database_url
        if operator is not None:
            return operator.get_secret_value()
        async with self._lock:
            if self._admin_url is None or not self.cluster.pgdata.joinpath("postmaster.pid").exists():
                self._admin_url = await asyncio.to_thread(self.cluster.start)
            return self._admin_url

    async def admin_url_if_there(self) -> str | None:
        """The admin URL, without starting the embedded cluster: None when it does not run (then it
        holds nothing to reconcile or measure, and a periodic look must not start one on every host)."""
        if self.embedded and not self.cluster.running():
            return None
        return await self.admin_url()

    def pr_url(self, name: str, password: str, *, sandboxed: bool) -> str:
        """The URL a PR's commands get as DATABASE_URL (a secret: masked in every log)."""
        operator = self.settings.previewd_preview_database_url
        credentials = f"{quote(name, safe='')}:{quote(password, safe='')}"
        if operator is None:
            host = SOCKET_INSIDE if sandboxed else str(self.cluster.socket_dir)
            return f"postgresql://{credentials}@{quote(host, safe='')}/{name}"
        parts = urlsplit(operator.get_secret_value())
        where = parts.hostname or ""
        if ":" in where:
            where = f"[{where}]"
        if parts.port:
            where += f":{parts.port}"
        query = f"?{parts.query}" if parts.query else ""
        return f"postgresql://{credentials}@{where}/{name}{query}"

    def host_url(self, name: str, password: str) -> str:
        """The same, as previewd reaches it from this host (to run a `.sql` seed)."""
        return self.pr_url(name, password, sandboxed=False)

    def sandbox_binds(self, env: dict[str, str]) -> tuple[ReadOnly, ...]:
        """What a sandbox whose environment holds a PR's DATABASE_URL must be shown: the embedded
        cluster's socket directory, and nothing for the operator's Postgres (reached by its host)."""
        if not self.embedded or quote(SOCKET_INSIDE, safe="") not in env.get("DATABASE_URL", ""):
            return ()
        return (ReadOnly(self.cluster.socket_dir, SOCKET_INSIDE),)


def socket_dir(settings: Settings) -> Path:
    return PreviewCluster(settings.data_dir).socket_dir
