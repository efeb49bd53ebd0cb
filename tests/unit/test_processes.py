"""activities/processes.py: command lines through /bin/sh -c, streamed output, timeouts and group kills."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from activities.processes import (
    CommandTimedOut,
    base_env,
    group_alive,
    run_streaming,
    shell_argv,
)

PYTHON = sys.executable


def python_argv(program: str) -> list[str]:
    return [PYTHON, "-c", program]


async def wait_gone(check: Callable[[int, int], None], pid: int, seconds: float = 5.0) -> None:
    """Wait until check(pid, 0) raises ProcessLookupError (a zombie lingers until it is reaped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            check(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)


def assert_group_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def assert_process_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# --- shell_argv ------------------------------------------------------------------------------------


def test_shell_argv_hands_the_whole_line_to_sh() -> None:
    assert shell_argv("npm ci && npm run build") == ["/bin/sh", "-c", "npm ci && npm run build"]


async def test_command_lines_run_as_a_shell_would(tmp_path: Path) -> None:
    """What users paste from Heroku and Render: `$PORT`, `&&`, pipes and redirections."""
    lines: list[str] = []
    command = "echo port=$PORT && printf 'b\\na\\n' | sort | tr -d '\\n' > out && cat out && echo"

    code = await run_streaming(
        shell_argv(command),
        cwd=tmp_path,
        env=base_env(tmp_path) | {"PORT": "4321"},
        on_line=lines.append,
        deadline=time.monotonic() + 20,
        pid_file=tmp_path / "pid",
    )

    assert code == 0
    assert lines == ["port=4321", "ab"]


@pytest.mark.parametrize(
    "hostile",
    [
        "$(touch {pwned})",
        "`touch {pwned}`",
        "; touch {pwned}",
        "x' && touch {pwned} && '",
        "$(touch${{IFS}}{pwned})",
    ],
)
async def test_pr_text_in_the_environment_is_never_run(tmp_path: Path, hostile: str) -> None:
    """PR-controlled text reaches a command only as a variable: the shell expands it as a value."""
    pwned = tmp_path / "pwned"
    value = hostile.format(pwned=pwned)
    lines: list[str] = []

    code = await run_streaming(
        shell_argv('echo "title=$PREVIEWD_PR_TITLE" && echo branch=$PREVIEWD_BRANCH'),
        cwd=tmp_path,
        env=base_env(tmp_path) | {"PREVIEWD_PR_TITLE": value, "PREVIEWD_BRANCH": value},
        on_line=lines.append,
        deadline=time.monotonic() + 20,
        pid_file=tmp_path / "pid",
    )

    assert code == 0
    assert lines[0] == f"title={value}"
    assert not pwned.exists()


# --- base_env --------------------------------------------------------------------------------------


def test_base_env_keeps_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/x")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("FLY_API_TOKEN", "t")
    monkeypatch.setenv("LANG", "C.UTF-8")

    env = base_env(tmp_path)

    assert "DATABASE_URL" not in env
    assert "GITHUB_WEBHOOK_SECRET" not in env
    assert "FLY_API_TOKEN" not in env
    assert env["LANG"] == "C.UTF-8"
    assert env["HOME"] == str(tmp_path)
    assert env["CI"] == "true"
    assert env["PATH"]


def test_base_env_takes_nothing_of_the_workers_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # previewd's virtualenv first on the worker's PATH, its TMPDIR in the data dir: a child sees neither.
    monkeypatch.setenv("PATH", "/srv/previewd/.venv/bin:/root/.pyenv/shims:/usr/bin")
    monkeypatch.setenv("TMPDIR", "/srv/previewd/data/tmp")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")

    env = base_env(tmp_path)

    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert "TMPDIR" not in env and "PIP_FIND_LINKS" not in env
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"


# --- run_streaming ---------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_run_streaming_feeds_each_line_and_returns_zero(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "print('one', flush=True)\n"
        "sys.stderr.write('two from stderr\\n'); sys.stderr.flush()\n"
        "print('three ✓', flush=True)\n"
        "sys.stdout.write('no newline at end'); sys.stdout.flush()\n"
    )
    lines: list[str] = []
    pid_file = tmp_path / "build.pid"
    seen_pid_file: list[bool] = []

    def on_line(line: str) -> None:
        seen_pid_file.append(pid_file.exists())
        lines.append(line)

    code = await run_streaming(
        python_argv(program),
        cwd=tmp_path,
        env=base_env(tmp_path),
        on_line=on_line,
        deadline=time.monotonic() + 20,
        pid_file=pid_file,
    )

    assert code == 0
    assert lines == ["one", "two from stderr", "three ✓", "no newline at end"]
    assert all(seen_pid_file)
    assert not pid_file.exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("exit_code", [1, 3, 42])
async def test_run_streaming_returns_exit_code(tmp_path: Path, exit_code: int) -> None:
    code = await run_streaming(
        python_argv(f"import sys; print('bye'); sys.exit({exit_code})"),
        cwd=tmp_path,
        env=base_env(tmp_path),
        on_line=lambda line: None,
        deadline=time.monotonic() + 20,
        pid_file=tmp_path / "pid",
    )
    assert code == exit_code


@pytest.mark.timeout(30)
async def test_run_streaming_uses_cwd_and_env(tmp_path: Path) -> None:
    lines: list[str] = []
    env = base_env(tmp_path) | {"ONLY_THIS": "yes"}
    await run_streaming(
        python_argv("import os; print(os.getcwd()); print(os.environ.get('ONLY_THIS'))"),
        cwd=tmp_path,
        env=env,
        on_line=lines.append,
        deadline=time.monotonic() + 20,
        pid_file=tmp_path / "pid",
    )
    assert lines == [str(tmp_path.resolve()), "yes"]


@pytest.mark.timeout(30)
async def test_run_streaming_calls_heartbeat(tmp_path: Path) -> None:
    beats: list[int] = []

    async def heartbeat() -> None:
        beats.append(1)

    await run_streaming(
        python_argv("print('x')"),
        cwd=tmp_path,
        env=base_env(tmp_path),
        on_line=lambda line: None,
        deadline=time.monotonic() + 20,
        pid_file=tmp_path / "pid",
        heartbeat=heartbeat,
    )
    assert beats


@pytest.mark.timeout(30)
async def test_run_streaming_times_out_and_leaves_no_process(tmp_path: Path) -> None:
    program = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(os.getpid(), child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    lines: list[str] = []
    pid_file = tmp_path / "pid"
    started = time.monotonic()

    with pytest.raises(CommandTimedOut):
        await run_streaming(
            python_argv(program),
            cwd=tmp_path,
            env=base_env(tmp_path),
            on_line=lines.append,
            deadline=time.monotonic() + 1.0,
            pid_file=pid_file,
        )

    assert time.monotonic() - started < 10
    leader, grandchild = (int(part) for part in lines[0].split())
    await wait_gone(os.killpg, leader)
    await wait_gone(os.kill, grandchild)
    assert_group_gone(leader)
    assert_process_gone(grandchild)
    assert not group_alive(leader)
    assert not pid_file.exists()


@pytest.mark.timeout(30)
async def test_run_streaming_deadline_already_past_raises_and_kills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[asyncio.subprocess.Process] = []
    real_exec = asyncio.create_subprocess_exec

    async def recording_exec(*args: object, **kwargs: object) -> asyncio.subprocess.Process:
        process = await real_exec(*args, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recording_exec)
    pid_file = tmp_path / "pid"

    with pytest.raises(CommandTimedOut):
        await run_streaming(
            python_argv("import time; time.sleep(60)"),
            cwd=tmp_path,
            env=base_env(tmp_path),
            on_line=lambda line: None,
            deadline=time.monotonic() - 1,
            pid_file=pid_file,
        )

    (process,) = started
    await wait_gone(os.killpg, process.pid)
    assert_group_gone(process.pid)
    assert not pid_file.exists()


@pytest.mark.timeout(30)
async def test_cancelling_run_streaming_kills_the_whole_process_group(tmp_path: Path) -> None:
    program = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(os.getpid(), child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    lines: list[str] = []
    pid_file = tmp_path / "pid"
    task = asyncio.create_task(
        run_streaming(
            python_argv(program),
            cwd=tmp_path,
            env=base_env(tmp_path),
            on_line=lines.append,
            deadline=time.monotonic() + 60,
            pid_file=pid_file,
        )
    )
    while not lines:
        assert not task.done()
        await asyncio.sleep(0.02)
    leader, grandchild = (int(part) for part in lines[0].split())
    assert os.getpgid(grandchild) == leader
    assert pid_file.read_text() == str(leader)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await wait_gone(os.killpg, leader)
    await wait_gone(os.kill, grandchild)
    assert_group_gone(leader)
    assert_process_gone(grandchild)
    assert not pid_file.exists()


@pytest.mark.timeout(30)
async def test_deadline_holds_when_command_closes_its_output(tmp_path: Path) -> None:
    program = "import os, time; print(os.getpid(), flush=True); os.close(1); os.close(2); time.sleep(60)"
    lines: list[str] = []
    try:
        with pytest.raises(CommandTimedOut):
            await asyncio.wait_for(
                run_streaming(
                    python_argv(program),
                    cwd=tmp_path,
                    env=base_env(tmp_path),
                    on_line=lines.append,
                    deadline=time.monotonic() + 0.3,
                    pid_file=tmp_path / "pid",
                ),
                timeout=2,
            )
    finally:
        # wait_for's cancellation makes run_streaming kill the group; make sure nothing is left behind.
        if lines:
            await wait_gone(os.killpg, int(lines[0]))
