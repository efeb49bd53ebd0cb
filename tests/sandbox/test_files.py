"""What the sandbox sees of the host's files: the system, its work dir, its cache; nothing else."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from activities.sandbox import SANDBOX_UID, ReadOnly, hand_over, start_server
from activities.sandbox.cgroup import SandboxCgroup
from activities.toolchain import COPY_SCRIPT
from tests.sandbox.conftest import Dirs, run_lines, sh, spec_for

pytestmark = [pytest.mark.usefixtures("sandboxing"), pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-previewd-data-dir"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A stand-in for previewd's data dir: one key root-only, one world-readable."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    private, public = data / "secret-keys", data / "readable"
    private.write_text(SECRET)
    private.chmod(0o600)
    public.write_text(SECRET)
    public.chmod(0o644)
    return data


async def test_runs_as_nobody_with_no_capabilities(dirs: Dirs) -> None:
    result, lines = await run_lines(
        spec_for(dirs, sh("id -u; id -g; id -G; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status"))
    )
    assert result.exit_code == 0, lines
    assert lines[:3] == ["65534", "65534", "65534"]
    assert all(line.endswith("0000000000000000") for line in lines[3:]), lines


async def test_the_data_dir_is_not_there(dirs: Dirs, data_dir: Path) -> None:
    script = (
        f"cat {data_dir}/secret-keys {data_dir}/readable; ls {data_dir}; "
        f"grep -rs {SECRET} /app /home /tmp /etc /var; true"
    )
    result, lines = await run_lines(spec_for(dirs, sh(script)))
    assert result.exit_code == 0
    assert not any(SECRET in line for line in lines), lines
    assert any("No such file" in line for line in lines)


async def test_root_home_and_previewd_itself_are_not_there(dirs: Dirs) -> None:
    paths = ["/root", "/home/preview/..", str(ROOT), str(ROOT / ".venv"), "/opt", "/srv", "/var/lib", "/work"]
    script = "for p in " + " ".join(paths) + '; do echo "$p: $(ls -A "$p" 2>&1 | tr "\\n" " ")"; done'
    result, lines = await run_lines(spec_for(dirs, sh(script)))
    assert result.exit_code == 0
    listing = dict(line.split(": ", 1) for line in lines)
    assert listing["/home/preview/.."].split() == ["preview"]
    for path in paths:
        if path != "/home/preview/..":
            assert "No such file" in listing[path], (path, listing[path])


async def test_no_process_of_the_host_is_visible(dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEWD_TEST_SECRET", SECRET)
    script = (
        "ls /proc | grep -E '^[0-9]+$'; echo ---; "
        f"cat /proc/*/environ /proc/{os.getpid()}/environ 2>&1 | tr '\\0' '\\n'"
    )
    result, lines = await run_lines(spec_for(dirs, sh(script)))
    assert result.exit_code == 0
    pids = [int(line) for line in lines[: lines.index("---")]]
    # bwrap's init, the shell, ls and grep: the namespace's own, numbered from 1.
    assert max(pids) < 20 and os.getpid() not in pids, pids
    assert not any(SECRET in line for line in lines), lines


async def test_the_system_is_read_only(dirs: Dirs) -> None:
    script = "touch /usr/x /etc/x /x 2>&1; echo hacked >> /etc/passwd; echo done"
    result, lines = await run_lines(spec_for(dirs, sh(script)))
    assert lines[-1] == "done"
    assert sum("Read-only" in line or "Permission denied" in line for line in lines) >= 4, lines
    assert "hacked" not in Path("/etc/passwd").read_text()


async def test_the_work_dir_is_writable_and_the_cache_persists(dirs: Dirs, tmp_path: Path) -> None:
    first = spec_for(dirs, sh("echo built > /app/out && echo cached > $HOME/.cache/pkg && pwd"))
    result, lines = await run_lines(first)
    assert (result.exit_code, lines) == (0, ["/app"])
    assert (dirs.work / "out").read_text() == "built\n"
    assert (dirs.work / "out").stat().st_uid == 65534

    # The project's next deployment: a new checkout, the same cache.
    next_work = tmp_path / "work2"
    next_work.mkdir()
    os.chown(next_work, 65534, 65534)
    second = spec_for(Dirs(next_work, dirs.cache), sh("cat $HOME/.cache/pkg; ls /app"))
    result, lines = await run_lines(second)
    assert (result.exit_code, lines) == (0, ["cached"])


async def test_the_environment_is_exactly_the_given_one(dirs: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEWD_TEST_SECRET", SECRET)
    env = {
        "HOME": "/home/preview",
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PORT": "8000",
        "TOKEN": 'it\'s a $HOME `id` "quoted"\n\tsecond line ',
        "EMPTY": "",
    }
    program = "import json, os; print(json.dumps(dict(os.environ)))"
    result, lines = await run_lines(spec_for(dirs, ["python3", "-c", program], env=env))
    assert result.exit_code == 0, lines
    # bwrap sets PWD for its --chdir (as any shell would): the only variable not given.
    assert json.loads(lines[0]) == {**env, "PWD": "/app"}


def test_the_environment_never_reaches_the_host_side_processes(dirs: Dirs, tmp_path: Path) -> None:
    """bwrap and setpriv run as root on the host: a project's LD_PRELOAD must not reach them, and
    no secret may sit in a command line (which every host user can read)."""
    env = {"PATH": "/usr/bin:/bin", "PREVIEWD_TEST_SECRET": SECRET}
    server = start_server(spec_for(dirs, ["sleep", "1000"], env=env), output=(tmp_path / "log").open("wb"))
    try:
        deadline = time.monotonic() + 5
        while not (command := _sandboxed(server.spec.name, b"sleep")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert command, "sleep never started"
        assert SECRET.encode() in Path(f"/proc/{command}/environ").read_bytes()
        for pid in SandboxCgroup(server.spec.name).pids():
            assert SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
            if pid != command:
                assert SECRET.encode() not in Path(f"/proc/{pid}/environ").read_bytes(), pid
    finally:
        server.stop(grace=0)


def _sandboxed(name: str, program: bytes) -> int | None:
    """The pid of `program` among the sandbox's processes."""
    for pid in SandboxCgroup(name).pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == program:
                return pid
        except OSError:
            continue
    return None


def test_a_server_cannot_truncate_or_grow_the_log_previewd_reads_back(dirs: Dirs, tmp_path: Path) -> None:
    """A writable fd of runtime.log would let the preview ftruncate it to a terabyte of zeros (no
    disk needed), which the worker then reads back (RuntimeLog.tail, copy): its output goes through
    a pipe instead."""
    script = (
        "echo before; "
        "python3 -c 'import os; os.ftruncate(1, 1 << 40)' 2>/dev/null || echo refused; "
        "echo after"
    )
    log = tmp_path / "runtime.log"
    with open(log, "ab") as output:
        server = start_server(spec_for(dirs, sh(script)), output=output)
    try:
        assert server.wait(10) == 0
    finally:
        server.stop(grace=0)
    assert log.stat().st_size < 4096
    assert log.read_text().splitlines() == ["before", "refused", "after"]


async def test_a_previous_checkout_is_read_only_and_its_links_copy_as_links(
    dirs: Dirs, data_dir: Path, tmp_path: Path
) -> None:
    """The toolchain copy's view (activities/toolchain.py): the previous deployment's checkout at
    /previous, read-only; what it links to on the host is never what gets copied."""
    previous = tmp_path / "previous-src"
    (previous / ".previewd" / "venv" / "bin").mkdir(parents=True)
    (previous / ".previewd" / "venv" / "bin" / "tool").write_text("#!/app/.previewd/venv/bin/python\n")
    (previous / ".previewd" / "venv" / "keys").symlink_to(data_dir / "secret-keys")
    hand_over(previous)
    script = (
        "touch /previous/planted 2>&1; "
        f"sh -c '{COPY_SCRIPT}' copy /previous/.previewd/venv /app/.previewd/venv && echo copied; "
        "cat /app/.previewd/venv/keys 2>&1; ls -l /app/.previewd/venv/bin"
    )
    spec = spec_for(dirs, sh(script), read_only=(ReadOnly(previous, "/previous"),))
    result, lines = await run_lines(spec)
    assert result.exit_code == 0, lines
    assert "Read-only file system" in lines[0] and "copied" in lines
    assert not (previous / "planted").exists()
    assert not any(SECRET in line for line in lines), lines
    copied = dirs.work / ".previewd" / "venv"
    assert (copied / "keys").is_symlink() and (copied / "bin" / "tool").read_text().startswith("#!/app/")
    assert (copied / "bin" / "tool").stat().st_uid == SANDBOX_UID
