"""Settings of DESIGN §5, read once from the environment and `.env`.

A bad value stops the program at start with a message naming the variable (see `load_settings`).
Secrets are `SecretStr`: they print as `**********` (in `config show`, a traceback, a log line) and
are read with `.get_secret_value()` only where they are used.
"""

from __future__ import annotations

import ipaddress
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.ceilings import Ceilings
from models.clone_source import CloneRules

SESSION_SECRET_MIN_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "previewd"

    previewd_data_dir: Path = Path(".previewd")
    previewd_platform: Literal["local", "fly"] = "local"
    previewd_base_url: str = "http://localhost:8000"
    previewd_secret_keys: SecretStr | None = None
    previewd_web_host: str = "127.0.0.1"
    previewd_web_port: int = Field(default=8000, ge=1, le=65535)
    previewd_preview_port: int = Field(default=8080, ge=1, le=65535)
    # Host part of preview URLs: http://{app_name}.{domain}:{preview_port}/
    previewd_preview_domain: str = "localhost"
    previewd_max_concurrent_builds: int = Field(default=2, ge=1, le=64)
    previewd_build_timeout_seconds: int = Field(default=900, ge=10)
    # PR workflow runs the worker keeps in memory between their tasks (Temporal's sticky cache; its
    # default, 1,000, keeps every open PR's). An evicted run is replayed from its history when it next
    # has work (a timer, a signal): a little CPU then, instead of memory all along. 0 = no cache.
    previewd_max_cached_workflows: int = Field(default=100, ge=0, le=10_000)
    # Name of this worker's host-specific task queue suffix; defaults to the host name.
    previewd_worker_name: str | None = None
    # Signs the dashboard's session cookie; unset: generated once into {data dir}/session-key.
    previewd_session_secret: SecretStr | None = None
    # How long a dashboard sign-in lasts, and a one-time sign-in link (local mode) stays good.
    previewd_session_hours: int = Field(default=24 * 14, ge=1, le=24 * 365)
    previewd_login_link_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Where the dashboard links each PR's workflow in the Temporal UI.
    previewd_temporal_ui_url: str = "http://localhost:8233"
    # Where `previewd up` runs the Temporal dev server and its UI, when TEMPORAL_ADDRESS is unset.
    previewd_temporal_port: int = Field(default=7233, ge=1, le=65535)
    previewd_temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    # PR code in a sandbox (activities/sandbox): "auto" uses it when this host can (probe()),
    # "required" refuses to start the worker without it, "off" runs PR code as previewd (one person
    # trying previewd out; it then refuses what would hand PR code to strangers).
    previewd_sandbox: Literal["auto", "required", "off"] = "auto"
    # Ceilings of every project's sandbox limits: a project asks for less, never more.
    previewd_max_memory_mb: int = Field(default=4096, ge=64)
    previewd_max_processes: int = Field(default=4096, ge=16)
    # Log lines a deployment keeps (models/log_caps.py): the newest runtime lines (older ones are
    # dropped, one line says how many), and the first build lines (the rest is cut, the build goes on).
    previewd_max_runtime_log_lines: int = Field(default=50_000, ge=100)
    previewd_max_build_log_lines: int = Field(default=100_000, ge=100)
    # runtime.log is rotated at this size, keeping one earlier file (activities/local/runtime_output.py).
    previewd_runtime_log_file_mb: int = Field(default=10, ge=1, le=1024)
    # Ceilings of a project's own limits (models/ceilings.py): its build time limit, its awake
    # previews, its builds at once (each worker's own limit, PREVIEWD_MAX_CONCURRENT_BUILDS, holds too).
    previewd_max_build_timeout_seconds: int = Field(default=3600, ge=10, le=6 * 3600)
    previewd_max_live_previews: int = Field(default=100, ge=1, le=1000)
    previewd_max_builds_per_project: int = Field(default=4, ge=1, le=64)
    # Preview databases (issue 16, activities/preview_db): where each PR's database and role are made.
    # Unset: a separate embedded Postgres under the data dir (runtime/preview_postgres.py). Set: the
    # operator's Postgres (a role with CREATEDB and CREATEROLE); its host must be reachable from the
    # previews. Never shown: it may hold a superuser's password.
    previewd_preview_database_url: SecretStr | None = None
    # A preview database over this many MB is stopped (the project's `database_max_mb`, held under it).
    previewd_preview_database_max_mb: int = Field(default=1024, ge=1, le=1 << 20)
    # Test knob, not a setting: how many seconds a "day" of expiry lasts (`expire_after_days`, the
    # warning a day before, `/preview extend 3d`), so tests see a preview expire in seconds through
    # the same code path. Leave it unset.
    previewd_expiry_unit_seconds: float = Field(default=86400.0, gt=0)
    # A test knob: how many seconds a project's `idle_minutes` stands for (60 in production; the tests
    # set 1, so "idle_minutes = 3" sleeps a preview after three idle seconds along the same code path).
    previewd_idle_unit_seconds: int = Field(default=60, ge=1, le=60)

    # Prometheus GET /metrics (README "Metrics and Insights"): the web app's and the worker's, each on a
    # port of its own, never the dashboard's or the proxy's (which GitHub and the public reach); 0 = off.
    # Off loopback a bearer token is required: the figures name projects and their activity.
    previewd_metrics_bind: str = "127.0.0.1"
    previewd_metrics_port: int = Field(default=9464, ge=0, le=65535)
    previewd_worker_metrics_port: int = Field(default=9465, ge=0, le=65535)
    previewd_metrics_token: SecretStr | None = None

    github_app_id: str | None = None
    github_app_private_key: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None
    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    github_app_slug: str | None = None
    github_api_url: str = "https://api.github.com"
    github_url: str = "https://github.com"
    # Hosts besides GITHUB_URL's that a project's clone_url may name (https:// only), comma-separated,
    # e.g. "gitlab.example.com". Empty: only the GitHub host (see models/clone_source.py).
    previewd_allowed_clone_hosts: str = ""
    # Domains a project's preview domain must be (or be under), comma-separated, e.g.
    # "previews.example.com". Empty: any domain a repository admin names (web/dashboard/domain_rules.py).
    previewd_allowed_preview_domains: str = ""

    # With a GitHub App: how often the App's failed webhook deliveries are found and redelivered, and
    # how often each active project's open PRs are compared with what previewd received (0 = off).
    previewd_redelivery_interval_minutes: int = Field(default=3, ge=0, le=24 * 60)
    previewd_drift_interval_minutes: int = Field(default=10, ge=0, le=7 * 24 * 60)

    # Notifications (notifications/): a channel's URL may name a loopback, link-local, private or
    # this host's own address only when this is true (an operator's own receivers; the tests').
    previewd_notifications_allow_private: bool = False
    # The most one send may take, all of it (name lookup, connection, TLS, the answer's status line or
    # the SMTP conversation); a dashboard "send a test" that fails answers after exactly this long.
    previewd_notifications_send_seconds: float = Field(default=10.0, gt=0, le=60)
    # The operator's SMTP server for email channels; unset host: email channels cannot be added.
    previewd_smtp_host: str | None = None
    previewd_smtp_port: int = Field(default=587, ge=1, le=65535)
    previewd_smtp_username: str | None = None
    previewd_smtp_password: SecretStr | None = None
    previewd_smtp_from: str = "previewd@localhost"
    # STARTTLS after connecting (port 587); false only for a server on this host or a test.
    previewd_smtp_starttls: bool = True

    fly_api_token: SecretStr | None = None
    fly_org: str = "personal"
    fly_region: str = "iad"
    fly_api_url: str = "https://api.machines.dev"
    # Where a Fly preview answers; {app} is its app name. Change it for a custom wildcard domain.
    fly_preview_url_template: str = "https://{app}.fly.dev/"
    fly_builder: Literal["flyctl", "docker"] = "flyctl"
    # A project's preview domain (Fly): how long a deploy waits for https://{app}.{domain}/ to answer
    # over verified TLS (DNS and Fly's certificate) before it fails naming the DNS record to add.
    previewd_custom_domain_timeout_seconds: int = Field(default=300, ge=5, le=420)
    # The CA certificates (a PEM file) that check is verified against; unset: the system's.
    previewd_tls_ca_bundle: Path | None = None
    # Where that check connects instead of asking DNS, as `host=address:port` pairs separated by
    # commas (`*.previews.example.com=127.0.0.1:8443`): for a test or a split-horizon network.
    # TLS still checks the certificate against the URL's own host name.
    previewd_resolve_overrides: str = ""

    @field_validator(
        "previewd_base_url", "previewd_temporal_ui_url", "github_api_url", "github_url", "fly_api_url"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("previewd_resolve_overrides")
    @classmethod
    def _overrides(cls, value: str) -> str:
        parse_resolve_overrides(value)
        return value

    @property
    def resolve_overrides(self) -> dict[str, tuple[str, int]]:
        return parse_resolve_overrides(self.previewd_resolve_overrides)

    @model_validator(mode="after")
    def _fly_needs_a_token(self) -> Settings:
        if self.previewd_platform == "fly" and not self.fly_api_token:
            raise ValueError("FLY_API_TOKEN is required when PREVIEWD_PLATFORM=fly")
        if self.github_app_id and not self.github_app_private_key:
            raise ValueError("GITHUB_APP_PRIVATE_KEY (PEM text or a path) is required with GITHUB_APP_ID")
        key = self.github_app_private_key.get_secret_value().strip() if self.github_app_private_key else ""
        if key and not key.startswith("-----BEGIN") and not Path(key).expanduser().is_file():
            raise ValueError("GITHUB_APP_PRIVATE_KEY is neither PEM text nor a path to a readable file")
        if bool(self.github_client_id) != bool(self.github_client_secret):
            raise ValueError("GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET go together (dashboard sign-in)")
        if "{app}" not in self.fly_preview_url_template:
            raise ValueError("FLY_PREVIEW_URL_TEMPLATE must contain {app}")
        if not self.metrics_on_loopback and not self.previewd_metrics_token:
            raise ValueError(
                "PREVIEWD_METRICS_TOKEN is required when PREVIEWD_METRICS_BIND is not a loopback address"
            )
        public = {self.previewd_web_port, self.previewd_preview_port}
        if {self.previewd_metrics_port, self.previewd_worker_metrics_port} & public:
            raise ValueError(
                "PREVIEWD_METRICS_PORT and PREVIEWD_WORKER_METRICS_PORT must differ from "
                "PREVIEWD_WEB_PORT and PREVIEWD_PREVIEW_PORT (metrics stay off the public ports)"
            )
        if self.previewd_build_timeout_seconds > self.previewd_max_build_timeout_seconds:
            raise ValueError(
                "PREVIEWD_BUILD_TIMEOUT_SECONDS (the default build time limit) must not exceed "
                "PREVIEWD_MAX_BUILD_TIMEOUT_SECONDS"
            )
        return self

    @field_validator("previewd_session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here rather than with Field(min_length=...), whose message on a SecretStr speaks
        # of "items".
        if value is not None and len(value.get_secret_value()) < SESSION_SECRET_MIN_LENGTH:
            raise ValueError(f"must be at least {SESSION_SECRET_MIN_LENGTH} characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("postgresql://", "postgres://", "postgresql+psycopg://")
        ):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("previewd_data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def data_dir(self) -> Path:
        return self.previewd_data_dir

    @property
    def metrics_on_loopback(self) -> bool:
        if self.previewd_metrics_bind == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.previewd_metrics_bind).is_loopback
        except ValueError:  # a host name: who knows where it resolves
            return False

    @property
    def github_sign_in(self) -> bool:
        """Dashboard sign-in through GitHub OAuth; otherwise one-time sign-in links (local mode)."""
        return bool(self.github_client_id and self.github_client_secret)

    @property
    def allowed_preview_domains(self) -> tuple[str, ...]:
        listed = (
            name.strip().lower().rstrip(".") for name in self.previewd_allowed_preview_domains.split(",")
        )
        return tuple(name for name in listed if name)

    @property
    def clone_rules(self) -> CloneRules:
        """Where projects may be cloned from; local paths only in the single-user local mode."""
        listed = (host.strip().lower() for host in self.previewd_allowed_clone_hosts.split(","))
        return CloneRules(
            github_url=self.github_url,
            allowed_hosts=frozenset(host for host in listed if host),
            local_paths=not self.github_sign_in,
        )

    @property
    def ceilings(self) -> Ceilings:
        """What no project may ask for beyond (a save above one is an error naming the field)."""
        return Ceilings(
            memory_mb=self.previewd_max_memory_mb,
            processes=self.previewd_max_processes,
            build_timeout_seconds=self.previewd_max_build_timeout_seconds,
            live_previews=self.previewd_max_live_previews,
            builds_per_project=self.previewd_max_builds_per_project,
            database_mb=self.previewd_preview_database_max_mb,
        )

    @property
    def secure_cookies(self) -> bool:
        return self.previewd_base_url.startswith("https://")

    @property
    def preview_scheme_port(self) -> str:
        return "" if self.previewd_preview_port == 80 else f":{self.previewd_preview_port}"

    def preview_url(self, app_name: str) -> str:
        if self.previewd_platform == "fly":
            return self.fly_preview_url_template.format(app=app_name)
        return f"http://{app_name}.{self.previewd_preview_domain}{self.preview_scheme_port}/"


def parse_resolve_overrides(value: str) -> dict[str, tuple[str, int]]:
    """`host=address:port,…` as {host: (address, port)}; ValueError naming the bad entry."""
    overrides: dict[str, tuple[str, int]] = {}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        host, _, target = entry.partition("=")
        address, _, port = target.rpartition(":")
        if not host.strip() or not address or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not host=address:port")
        overrides[host.strip().lower()] = (address.strip("[]"), int(port))
    return overrides


class ConfigError(SystemExit):
    """Raised at start when the environment holds a bad value."""


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        variable = str(item["loc"][0]).upper() if item["loc"] else "configuration"
        lines.append(f"  {variable}: {item['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        sys.stderr.write(f"previewd: {_describe(error)}\n")
        raise ConfigError(2) from None
