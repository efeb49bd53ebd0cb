"""The sandbox's parts that need no sandbox: spec checks, mounts, routes, output lines."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from activities.sandbox import Limits, Network, PortForward, SandboxSpec, sandbox_env
from activities.sandbox.cgroup import Layout, SandboxCgroup, detect
from activities.sandbox.launch import env_script
from activities.sandbox.mounts import filesystem_args
from activities.sandbox.network import deny_routes, host_addresses
from activities.sandbox.run import MAX_LINE_BYTES, _Lines

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.0
           /24 link UNICAST
        |-- 192.0.2.2
           /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 10.8.0.0/16 2 0 2
     |-- 10.8.0.1
        /32 host LOCAL
     |-- 192.0.2.2
        /32 host LOCAL
"""


def spec(**changes: Any) -> SandboxSpec:
    return dataclasses.replace(
        SandboxSpec(name="dep-1", argv=["true"], work_dir=Path("/w"), env={}), **changes
    )


def test_host_addresses_are_the_local_ones_but_loopback(tmp_path: Path) -> None:
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    assert host_addresses(tmp_path / "fib_trie") == ["10.8.0.1", "192.0.2.2"]


def test_this_hosts_addresses_are_found() -> None:
    assert all(not a.startswith("127.") for a in host_addresses())


def test_routes_close_link_local_and_each_host_address_only() -> None:
    assert deny_routes(["192.0.2.2"]) == [
        "route add unreachable 169.254.0.0/16",
        "route add unreachable 192.0.2.2/32",
    ]


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 101, "dep 1"])
def test_a_name_cannot_leave_the_cgroup_parent(name: str) -> None:
    with pytest.raises(ValueError):
        spec(name=name)


@pytest.mark.parametrize("inner", ["app", "/", "/proc", "/tmp", "/a/../etc"])
def test_the_work_dir_cannot_hide_the_system(inner: str) -> None:
    with pytest.raises(ValueError):
        spec(inner_work_dir=inner)


def test_a_forward_needs_the_network() -> None:
    with pytest.raises(ValueError):
        spec(network=Network.NONE, forward=PortForward(8080, 8000))


def test_the_host_root_is_never_bound_and_etc_is_curated() -> None:
    fds = iter(range(100, 200))
    args = filesystem_args(spec(cache_dir=Path("/c")), lambda _: next(fds))
    pairs = list(zip(args, args[1:], args[2:], strict=False))
    binds = {(src, dst) for flag, src, dst in pairs if flag in ("--bind", "--ro-bind")}
    assert ("/w", "/app") in binds and ("/c", "/home/preview/.cache") in binds
    assert all(src != "/" for src, _ in binds)
    assert not any(src.startswith(("/root", "/home", "/var", "/opt", "/tmp")) for src, _ in binds)
    assert not {"/etc/shadow", "/etc/pip.conf", "/etc/passwd", "/etc/resolv.conf"} & {src for src, _ in binds}
    # The work dir comes last, so no later mount can cover it.
    assert args[-4:] == ["/w", "/app", "--chdir", "/app"]


def test_sandbox_env_starts_from_nothing() -> None:
    host = {"SSL_CERT_FILE": "/etc/ssl/certs/ca.pem", "FLY_API_TOKEN": "x", "DATABASE_URL": "y"}
    env = sandbox_env({"PORT": "8000"}, host=host)
    assert env == {
        "HOME": "/home/preview",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
        "PORT": "8000",
    }


def test_output_is_cut_into_lines_and_an_endless_one_is_bounded() -> None:
    seen: list[str] = []
    lines = _Lines(seen.append)
    lines.feed(b"one\ntw")
    lines.feed(b"o\r\nthr")
    assert seen == ["one", "two"]
    lines.feed(b"x" * (MAX_LINE_BYTES * 2 + 5))
    assert [len(s) for s in seen[2:]] == [MAX_LINE_BYTES, MAX_LINE_BYTES]
    lines.flush()
    assert len(seen) == 5 and seen[-1].endswith("xxxxx")


def fake_hierarchy(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


def test_cgroup_v1_is_found_where_memory_and_pids_hierarchies_are(tmp_path: Path) -> None:
    root = fake_hierarchy(tmp_path, {"memory/memory.limit_in_bytes": "", "pids/cgroup.procs": ""})
    assert detect(root) == Layout(1, root / "memory", root / "pids", None)


def test_cgroup_v2_needs_its_memory_and_pids_controllers(tmp_path: Path) -> None:
    root = fake_hierarchy(tmp_path, {"cgroup.controllers": "cpu io"})
    assert detect(root) is None
    (root / "cgroup.controllers").write_text("cpu io memory pids")
    assert detect(root) == Layout(2, root, root, root)


def test_cgroup_v2_limits_are_written_where_the_kernel_reads_them(tmp_path: Path) -> None:
    # A plain directory plays the hierarchy: mkdir does not create the kernel's files, so the
    # test creates the ones the code reads back.
    root = fake_hierarchy(tmp_path, {"cgroup.controllers": "memory pids", "cgroup.subtree_control": ""})
    cgroup = SandboxCgroup("dep-1", detect(root))
    cgroup.create(Limits(memory_bytes=256 << 20, max_pids=64))
    sandbox = root / "previewd" / "dep-1"
    assert (sandbox / "memory.max").read_text() == str(256 << 20)
    assert (sandbox / "pids.max").read_text() == "64"
    assert (root / "previewd" / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert cgroup.join_files() == [str(sandbox / "cgroup.procs")]
    (sandbox / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroup.oom_killed()


@pytest.mark.parametrize("name", ["A-B", "1X", "X Y", "X=Y", ""])
def test_environment_names_are_ones_a_shell_can_export(name: str) -> None:
    with pytest.raises(ValueError):
        spec(env={name: "v"})


def test_the_environment_file_quotes_every_value() -> None:
    script = env_script({"A": "it's $HOME `id`", "B": ""}).decode()
    assert script == "export A='it'\"'\"'s $HOME `id`'\nexport B=''\n"
