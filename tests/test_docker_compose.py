"""Static checks of docker-compose.yml, Dockerfile and .dockerignore.

There is no Docker engine where the tests run, so the files are parsed and their shape is checked:
services, health checks, start-up order, the shared previewd image and that no secret is written
into the compose file.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

EXPECTED_SERVICES = ("postgres", "temporal", "temporal-ui", "migrate", "web", "worker")
APP_SERVICES = ("migrate", "web", "worker")
APP_COMMANDS = {name: ["previewd", name] for name in APP_SERVICES}
SECRET_VARIABLES = (
    "GITHUB_WEBHOOK_SECRET",
    "FLY_API_TOKEN",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_CLIENT_SECRET",
    "PREVIEWD_SECRET_KEYS",
)
# One whole-value interpolation of NAME with no literal default: ${NAME}, ${NAME?msg}, ${NAME:?msg}
# or an empty default ${NAME:-} / ${NAME-}.
_SECRET_INTERPOLATION = r"\$\{{{name}(?:(?::?\?)[^}}]*|:?-)?\}}"
_ANY_INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\}")
_URL_CREDENTIALS = re.compile(r"://(?P<user>\$\{[^}]*\}|[^:@/]*):(?P<password>\$\{[^}]*\}|[^@/]*)@")


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def service(name: str) -> dict[str, Any]:
    services = compose().get("services")
    assert isinstance(services, dict), "docker-compose.yml has no services mapping"
    definition = services.get(name)
    assert isinstance(definition, dict), f"service {name!r} is missing or empty"
    return definition


def dependency_conditions(name: str) -> dict[str, str]:
    """depends_on of a service as {dependency: condition}; the short list form means service_started."""
    depends_on = service(name).get("depends_on", {})
    if isinstance(depends_on, list):
        return {str(dependency): "service_started" for dependency in depends_on}
    assert isinstance(depends_on, dict), f"{name}: depends_on must be a list or a mapping"
    conditions: dict[str, str] = {}
    for dependency, options in depends_on.items():
        options = options or {}
        assert isinstance(options, dict), f"{name}: depends_on.{dependency} must be a mapping"
        conditions[str(dependency)] = str(options.get("condition", "service_started"))
    return conditions


def environment(name: str) -> dict[str, str]:
    """environment of a service as a mapping, whichever of the two compose forms it uses."""
    env = service(name).get("environment", {})
    if isinstance(env, list):
        pairs = (str(item).split("=", 1) for item in env)
        return {pair[0]: pair[1] if len(pair) == 2 else "" for pair in pairs}
    assert isinstance(env, dict), f"{name}: environment must be a list or a mapping"
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def command(name: str) -> list[str]:
    value = service(name).get("command")
    if isinstance(value, str):
        return shlex.split(value)
    assert isinstance(value, list), f"{name}: command must be set"
    return [str(part) for part in value]


def healthcheck_test(name: str) -> str:
    healthcheck = service(name).get("healthcheck")
    assert isinstance(healthcheck, dict), f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False), f"{name}: healthcheck is disabled"
    test = healthcheck.get("test")
    if isinstance(test, list):
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test must start with CMD"
        return " ".join(str(part) for part in test[1:])
    assert isinstance(test, str) and test.strip(), f"{name}: healthcheck has no test"
    return test


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, with line continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, arguments = full.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_compose_defines_every_service() -> None:
    services = compose().get("services", {})
    missing = [name for name in EXPECTED_SERVICES if name not in services]
    assert not missing, f"docker-compose.yml lacks services: {missing}"


LONG_RUNNING = tuple(name for name in EXPECTED_SERVICES if name != "migrate")


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_is_restarted_when_it_exits(name: str) -> None:
    # `unless-stopped` or `always`: a crash (or an OOM kill) brings it back; `docker compose stop` does not.
    assert str(service(name).get("restart", "no")) in ("unless-stopped", "always")


def test_every_service_is_either_long_running_or_the_one_shot_migration() -> None:
    assert set(compose()["services"]) == {*LONG_RUNNING, "migrate"}


@pytest.mark.parametrize("name", ["postgres", "temporal", "web", "worker"])
def test_service_has_a_healthcheck(name: str) -> None:
    assert healthcheck_test(name).strip()


def test_postgres_is_version_16_with_a_named_volume_and_pg_isready() -> None:
    postgres = service("postgres")
    assert str(postgres.get("image", "")).startswith("postgres:16")
    assert "pg_isready" in healthcheck_test("postgres")
    named_volumes = compose().get("volumes") or {}
    mounted = [str(volume).split(":", 1)[0] for volume in postgres.get("volumes", [])]
    assert any(source in named_volumes for source in mounted), "postgres data must live on a named volume"


def test_temporal_runs_pinned_auto_setup_on_the_compose_postgres() -> None:
    image = str(service("temporal").get("image", ""))
    repository, _, tag = image.partition(":")
    assert repository == "temporalio/auto-setup"
    assert re.fullmatch(r"1\.\d+\.\d+", tag), f"temporal image must be pinned to a release, got {image!r}"
    major_minor = tuple(int(part) for part in tag.split(".")[:2])
    assert major_minor >= (1, 25)
    env = environment("temporal")
    assert env.get("DB") == "postgres12"
    assert env.get("POSTGRES_SEEDS") == "postgres"
    assert env.get("DB_PORT") == "5432"
    assert env.get("POSTGRES_USER") and env.get("POSTGRES_PWD")
    assert "temporal:7233" in healthcheck_test("temporal")


def test_temporal_waits_for_healthy_postgres() -> None:
    assert dependency_conditions("temporal").get("postgres") == "service_healthy"


def test_temporal_ui_is_pinned_and_waits_for_temporal() -> None:
    ui = service("temporal-ui")
    image = str(ui.get("image", ""))
    assert image.startswith("temporalio/ui:") and image.split(":", 1)[1] not in ("", "latest")
    assert environment("temporal-ui").get("TEMPORAL_ADDRESS") == "temporal:7233"
    assert dependency_conditions("temporal-ui").get("temporal") == "service_healthy"
    ports = [str(port) for port in ui.get("ports", [])]
    assert any(port.endswith("8233:8080") for port in ports), f"temporal-ui must publish 8233->8080: {ports}"


def test_migrate_waits_for_healthy_postgres_and_runs_once() -> None:
    assert dependency_conditions("migrate").get("postgres") == "service_healthy"
    assert str(service("migrate").get("restart", "no")) == "no"


def test_web_waits_for_migrations_and_temporal() -> None:
    conditions = dependency_conditions("web")
    assert conditions.get("migrate") == "service_completed_successfully"
    assert conditions.get("temporal") == "service_healthy"


def test_worker_waits_for_migrations_and_temporal() -> None:
    conditions = dependency_conditions("worker")
    assert conditions.get("migrate") == "service_completed_successfully"
    assert conditions.get("temporal") == "service_healthy"


def test_app_services_share_one_previewd_image_build() -> None:
    builds = {name: service(name).get("build") for name in APP_SERVICES}
    images = {name: service(name).get("image") for name in APP_SERVICES}
    assert builds["web"] is not None, "web must be built from this repository"
    assert all(build == builds["web"] for build in builds.values()), f"builds differ: {builds}"
    assert all(image == images["web"] for image in images.values()), f"images differ: {images}"
    build = builds["web"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert (COMPOSE_FILE.parent / context).resolve() == ROOT


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_runs_the_right_previewd_command(name: str) -> None:
    assert command(name) == APP_COMMANDS[name]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_reaches_compose_postgres_and_temporal(name: str) -> None:
    env = environment(name)
    assert re.fullmatch(r"postgres(?:ql)?(?:\+psycopg)?://.+@postgres:5432/.+", env.get("DATABASE_URL", ""))
    assert env.get("TEMPORAL_ADDRESS") == "temporal:7233"
    assert env.get("PREVIEWD_PLATFORM") == "fly"
    assert env.get("PREVIEWD_WEB_HOST") == "0.0.0.0"


def test_web_publishes_dashboard_and_proxy_and_probes_healthz() -> None:
    ports = [str(port) for port in service("web").get("ports", [])]
    assert any(port.endswith("8000:8000") for port in ports), ports
    assert any(port.endswith("8080:8080") for port in ports), ports
    probe = healthcheck_test("web")
    assert "/healthz" in probe
    assert "urllib" in probe, "python:slim has no curl: probe with python's urllib"


def test_worker_health_comes_from_its_heartbeat_and_a_stalled_worker_is_restarted() -> None:
    assert "previewd worker-health" in healthcheck_test("worker").replace('", "', " ").replace('"', "")
    # Docker restarts on exit only: the watchdog's exit is what replaces a stalled worker.
    assert service("worker").get("restart") in ("unless-stopped", "always", "on-failure")


def test_worker_can_be_scaled() -> None:
    worker = service("worker")
    assert "container_name" not in worker
    assert not worker.get("ports"), "a scaled worker cannot bind fixed host ports"


@pytest.mark.parametrize("variable", SECRET_VARIABLES)
@pytest.mark.parametrize("name", APP_SERVICES)
def test_secrets_are_interpolated_not_written_in_compose(name: str, variable: str) -> None:
    value = environment(name).get(variable)
    assert value is not None, f"{name} does not pass {variable}"
    pattern = _SECRET_INTERPOLATION.format(name=re.escape(variable))
    assert re.fullmatch(pattern, value), f"{name}.{variable} must be ${{{variable}...}} with no default"


def test_database_password_comes_from_interpolation() -> None:
    assert _ANY_INTERPOLATION.fullmatch(environment("postgres").get("POSTGRES_PASSWORD", ""))
    assert _ANY_INTERPOLATION.fullmatch(environment("temporal").get("POSTGRES_PWD", ""))
    for name in APP_SERVICES:
        url = environment(name).get("DATABASE_URL", "")
        match = _URL_CREDENTIALS.search(url)
        assert match, f"{name}: DATABASE_URL must carry user:password@"
        password = match.group("password")
        assert _ANY_INTERPOLATION.fullmatch(password), f"{name}: DATABASE_URL password must be ${{...}}"


def test_dockerfile_uses_python_312_slim() -> None:
    froms = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert froms and froms[-1].split()[0] == "python:3.12-slim"


def test_dockerfile_installs_git_and_the_project() -> None:
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    assert any(
        re.search(r"apt-get\s+install\b", run) and re.search(r"(?<![\w-])git(?![\w-])", run) for run in runs
    ), "the image must install git"
    assert any(re.search(r"pip\s+install\s+(?:--no-cache-dir\s+)?\.(?:\s|$)", run) for run in runs), (
        "the image must `pip install .` the project"
    )
    copies = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "COPY"]
    assert copies, "the project must be copied into the image"


def test_dockerfile_runs_as_non_root_and_defaults_to_web() -> None:
    instructions = dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    cmds = [arguments for keyword, arguments in instructions if keyword == "CMD"]
    assert cmds and yaml.safe_load(cmds[-1]) == ["previewd", "web"]


@pytest.mark.parametrize("entry", [".venv", ".git", ".previewd", "tests/artifacts", "__pycache__", ".env"])
def test_dockerignore_excludes_local_state(entry: str) -> None:
    patterns = {
        line.strip().removeprefix("**/").rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert entry in patterns, f".dockerignore must exclude {entry}"


def _flyctl_run() -> str:
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    [run] = [run for run in runs if "superfly/flyctl/releases/download" in run]
    return run


def _build_args() -> dict[str, str]:
    declared = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "ARG"]
    return {name: default for name, _, default in (arg.partition("=") for arg in declared)}


def test_dockerfile_pins_a_flyctl_release() -> None:
    version = _build_args().get("FLYCTL_VERSION", "")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "FLYCTL_VERSION must pin one release"
    release = "https://github.com/superfly/flyctl/releases/download/v${FLYCTL_VERSION}/"
    assert f"{release}flyctl_${{FLYCTL_VERSION}}_Linux_x86_64.tar.gz" in _flyctl_run()


def test_dockerfile_checks_flyctl_against_its_published_checksum_before_unpacking_it() -> None:
    args = _build_args()
    assert "FLYCTL_SHA256" in args, "the checksum must be a build ARG"
    run = _flyctl_run()
    check = re.search(r'echo "\$\{FLYCTL_SHA256\}  (\S+)" \| sha256sum -c -', run)
    assert check, "the download must be checked with sha256sum -c"
    assert check.start() < run.index("tar "), "the checksum is checked before anything is unpacked"
    if args["FLYCTL_SHA256"]:
        assert re.fullmatch(r"[0-9a-f]{64}", args["FLYCTL_SHA256"]), "a sha256 is 64 hex digits"
    else:
        # No checksum pinned yet: the build must refuse rather than install an unchecked binary.
        guard = run.index('test -n "${FLYCTL_SHA256}"')
        assert guard < run.index("curl ") and "exit 1" in run[guard : run.index("curl ")]


def test_dockerfile_puts_flyctl_on_path() -> None:
    run = _flyctl_run()
    assert re.search(r"tar -xzf \S+ -C /usr/local/bin flyctl", run), "flyctl goes into /usr/local/bin"
    assert run.rstrip().endswith("flyctl version"), "the image proves flyctl runs from PATH"
