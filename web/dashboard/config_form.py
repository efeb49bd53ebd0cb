"""The project configuration form: HTML fields to a validated DeploymentConfig, and back.

Validation is the models' own (DeploymentConfig, FlyConfig); this module only says which field of
the form each error belongs to, so it can be shown beside that field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from config import Settings
from models.fly_config import FlyConfig
from models.projects import ENV_NAME, DeploymentConfig

TEXT_FIELDS = ("install_command", "build_command", "release_command", "start_command", "dockerfile_path")
# Defaults a repository's previewd.toml may override (models/repo_config.py).
LAYOUT_FIELDS = ("root_directory", "health_check_path")
# The sandbox's limits (whole numbers; empty keeps the model's default).
LIMIT_FIELDS = ("build_memory_mb", "preview_memory_mb", "max_processes")
# How much of the build workers one project takes, and how long one build may run (empty: the
# operator's default, PREVIEWD_BUILD_TIMEOUT_SECONDS).
BUILD_FIELDS = ("max_concurrent_builds", "build_timeout_seconds")
# How long a preview and its logs live (whole days).
LIFETIME_FIELDS = ("expire_after_days", "log_retention_days")
# Saved values the form does not show: an edit keeps them.
KEPT_FIELDS = ("clone_url",)
# Sleep and wake on the local platform (whole numbers; empty keeps the model's default; 0 minutes: never).
SLEEP_FIELDS = ("idle_minutes", "max_live_previews")
# A database per PR (issue 16); the template only an admin changes (web/dashboard/settings_pages.py).
DATABASE_FIELDS = ("database_engine", "database_seed", "database_template")
# Every field the form reads as a whole number.
WHOLE_NUMBER_FIELDS = (
    *LIMIT_FIELDS,
    *BUILD_FIELDS,
    *LIFETIME_FIELDS,
    *SLEEP_FIELDS,
    "health_check_timeout_seconds",
    "database_max_mb",
)
FLY_FIELDS = {
    ("region",): "fly_region",
    ("fallback_regions",): "fly_fallback_regions",
    ("guest", "cpu_kind"): "fly_cpu_kind",
    ("guest", "cpus"): "fly_cpus",
    ("guest", "memory_mb"): "fly_memory_mb",
    ("image",): "fly_image",
    ("auto_stop",): "fly_auto_stop",
}


@dataclass
class ConfigForm:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    config: DeploymentConfig | None = None


def _first(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


SECRET_NAME = re.compile(r"\A[A-Z_][A-Z0-9_]*\Z")


def parse_env(text: str, *, secret: bool = False) -> tuple[dict[str, str], str | None]:
    """`NAME=value` per line; blank lines and `#` comments skipped.

    For secrets, an error never quotes the line (it may hold the value), and names must be upper-case
    (`API_KEY`): a value pasted over several lines (a PEM key) then fails instead of turning its
    second line into a secret *name*, which the settings page would list."""
    env: dict[str, str] = {}
    valid = SECRET_NAME if secret else ENV_NAME
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not valid.match(name):
            if secret:
                return {}, (
                    f"line {number} is not NAME=value with an upper-case NAME; a value that spans "
                    "lines is added on its own under Settings → Secrets after saving"
                )
            if not sep:
                return env, f"line {number}: expected NAME=value"
            return env, f"line {number}: {name!r} is not a valid variable name"
        env[name] = value
    return env, None


def _number(values: dict[str, str], errors: dict[str, str], name: str) -> int | None:
    raw = values.get(name, "")
    if not raw:
        return None
    if not raw.isdigit():
        errors[name] = "must be a whole number"
        return None
    return int(raw)


def parse(form: Any, *, keep: dict[str, Any] | None = None, settings: Settings | None = None) -> ConfigForm:
    """Read the posted form. `keep` is the saved config: keys the form does not show (clone_url,
    extra Fly services) survive an edit. With `settings`, limits above the
    operator's ceilings are errors beside their fields."""
    names = (
        *TEXT_FIELDS, *LAYOUT_FIELDS, "watch_paths", "health_check_timeout_seconds", "port", "env_vars",
        "fork_policy", *LIMIT_FIELDS, *BUILD_FIELDS, *LIFETIME_FIELDS, *SLEEP_FIELDS, *FLY_FIELDS.values(),
        *DATABASE_FIELDS, "database_max_mb",
    )  # fmt: skip
    values = {name: _first(form, name) for name in names}
    values["fly_auto_stop"] = "on" if form.get("fly_auto_stop") else ""
    errors: dict[str, str] = {}
    env, env_error = parse_env(values["env_vars"])
    if env_error:
        errors["env_vars"] = env_error
    port = _number(values, errors, "port")
    fly = _fly(values, errors, kept=dict((keep or {}).get("fly_config", {})))
    raw: dict[str, Any] = {
        **{k: v for k, v in (keep or {}).items() if k in KEPT_FIELDS},
        **{name: values[name] or None for name in TEXT_FIELDS},
        "root_directory": values["root_directory"] or None,
        "health_check_path": values["health_check_path"] or "/",
        "watch_paths": [line.strip() for line in values["watch_paths"].splitlines() if line.strip()],
        "env_vars": env,
        "fork_policy": values["fork_policy"] or "approve",
        "fly_config": fly or FlyConfig(),
        **{name: values[name] or None for name in DATABASE_FIELDS},
    }
    if port is not None:
        raw["port"] = port
    for name in (
        *LIMIT_FIELDS,
        *BUILD_FIELDS,
        *LIFETIME_FIELDS,
        *SLEEP_FIELDS,
        "health_check_timeout_seconds",
        "database_max_mb",
    ):
        number = _number(values, errors, name)
        if number is not None:
            raw[name] = number
    try:
        config = DeploymentConfig.model_validate(raw)
    except ValidationError as error:
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "port"
            errors.setdefault(name, _message(item["msg"]))
        config = None
    if config is not None and settings is not None:
        for name, message in config.over_ceilings(settings.ceilings).items():
            errors.setdefault(name, message)
    if settings is not None:
        # clone_url is not a field of the form (it is set through the API), but a saved one this
        # previewd no longer clones from is kept only if it passes: the error says why not.
        clone_problem = settings.clone_rules.problem(raw.get("clone_url"))
        if clone_problem is not None:
            errors["clone_url"] = clone_problem
    return ConfigForm(values=values, errors=errors, config=None if errors else config)


def _fly(values: dict[str, str], errors: dict[str, str], *, kept: dict[str, Any]) -> FlyConfig | None:
    """The form's Fly fields over the saved Fly config (whose keys the form does not show survive);
    None, with each mistake beside its field, when they do not make a valid FlyConfig."""
    guest: dict[str, Any] = {"cpu_kind": values["fly_cpu_kind"] or "shared"}
    for key, name in (("cpus", "fly_cpus"), ("memory_mb", "fly_memory_mb")):
        number = _number(values, errors, name)
        if number is not None:
            guest[key] = number
    shown: dict[str, Any] = {
        "region": values["fly_region"] or None,
        "fallback_regions": [r.strip() for r in values["fly_fallback_regions"].split(",") if r.strip()],
        "image": values["fly_image"] or None,
        "guest": guest,
        "auto_stop": values["fly_auto_stop"] == "on",
    }
    try:
        return FlyConfig.model_validate(kept | shown)
    except ValidationError as error:
        for item in error.errors():
            name = FLY_FIELDS.get(
                tuple(str(p) for p in item["loc"][:2]), FLY_FIELDS.get((str(item["loc"][0]),), "")
            )
            errors.setdefault(name or "fly_region", _message(item["msg"]))
        return None


def _message(text: str) -> str:
    if "should match pattern '^[a-z]{3}$'" in text:
        return "must be a Fly region code: three lower-case letters, such as iad"
    return text.removeprefix("Value error, ")


def values_of(config: dict[str, Any]) -> dict[str, str]:
    """A saved config as form values (for the edit form)."""
    parsed = DeploymentConfig.model_validate(config)
    fly = parsed.fly_config
    return {
        **{name: getattr(parsed, name) or "" for name in TEXT_FIELDS},
        "port": str(parsed.port),
        "root_directory": parsed.root_directory or "",
        "health_check_path": parsed.health_check_path,
        "health_check_timeout_seconds": str(parsed.health_check_timeout_seconds),
        "log_retention_days": str(parsed.log_retention_days),
        "watch_paths": "\n".join(parsed.watch_paths),
        **{name: str(getattr(parsed, name)) for name in (*LIMIT_FIELDS, *SLEEP_FIELDS)},
        "max_concurrent_builds": str(parsed.max_concurrent_builds),
        "build_timeout_seconds": str(parsed.build_timeout_seconds or ""),
        "env_vars": "\n".join(f"{k}={v}" for k, v in parsed.env_vars.items()),
        "fork_policy": parsed.fork_policy,
        "expire_after_days": str(parsed.expire_after_days),
        "fly_region": fly.region or "",
        "fly_fallback_regions": ", ".join(fly.fallback_regions),
        "fly_cpu_kind": fly.guest.cpu_kind,
        "fly_cpus": str(fly.guest.cpus),
        "fly_memory_mb": str(fly.guest.memory_mb),
        "fly_image": fly.image or "",
        "fly_auto_stop": "on" if fly.auto_stop else "",
        **{name: getattr(parsed, name) or "" for name in DATABASE_FIELDS},
        "database_max_mb": str(parsed.database_max_mb),
    }
