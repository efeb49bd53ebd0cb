"""The seccomp filter: what it refuses (keyrings, user namespaces, a few risky interfaces), for the
right syscall numbers on x86_64 and aarch64, and that ordinary builds and servers still work under it.

The filter itself is checked by running its BPF program on made-up system calls (a small cBPF
interpreter below), for both architectures; the sandbox tests then call the real kernel."""

from __future__ import annotations

import ctypes.util
import errno
import json
import struct
import sys
import time

import pytest

from activities.sandbox import Network, probe, sandbox_env
from activities.sandbox.seccomp import (
    CLONE_NEWUSER,
    DENIED,
    SeccompUnavailable,
    compile_filter,
    native_number,
    sandbox_filter,
    supported_arches,
)
from tests.requirements import require, require_reachable
from tests.sandbox.conftest import Dirs, run_lines, sh, spec_for

pytestmark = pytest.mark.timeout(120)

SIGCHLD = 17
ALLOW = 0x7FFF0000
KILL_PROCESS = 0x80000000


def errno_action(code: int) -> int:
    return 0x00050000 | code


# Numbers from the kernel's tables (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/
# unistd.h for arm64), written out so that the filter is checked against something libseccomp did
# not produce.
NUMBERS = {
    "x86_64": {
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "clone": 56,
        "clone3": 435,
        "unshare": 272,
        "ptrace": 101,
        "mount": 165,
        "io_uring_setup": 425,
        "read": 0,
        "openat": 257,
    },
    "aarch64": {
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "clone": 220,
        "clone3": 435,
        "unshare": 97,
        "ptrace": 117,
        "mount": 40,
        "io_uring_setup": 425,
        "read": 63,
        "openat": 56,
    },
}


def library() -> dict[str, int]:
    try:
        return supported_arches()
    except SeccompUnavailable as error:
        require(False, str(error))
        raise


def run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """What the kernel's seccomp would return for this call (the cBPF subset libseccomp emits)."""
    values = list(args) + [0] * (6 - len(args))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *values)
    code = [struct.unpack_from("<HBBI", program, offset) for offset in range(0, len(program), 8)]
    a = x = pc = 0
    memory = [0] * 16
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        klass = op & 0x07
        if op == 0x20:  # ld [k]
            a = struct.unpack_from("<I", data, k)[0]
        elif op == 0x00:  # ld #k
            a = k
        elif op == 0x60:  # ld M[k]
            a = memory[k]
        elif op == 0x61:  # ldx M[k]
            x = memory[k]
        elif op == 0x02:  # st M[k]
            memory[k] = a
        elif op == 0x03:  # stx M[k]
            memory[k] = x
        elif op == 0x54:  # and #k
            a &= k
        elif op == 0x05:  # ja
            pc += k
        elif klass == 0x05:  # conditional jumps against k (or x)
            operand = x if op & 0x08 else k
            test = {0x10: a == operand, 0x20: a > operand, 0x30: a >= operand, 0x40: bool(a & operand)}
            pc += jt if test[op & 0xF0] else jf
        elif op == 0x06:  # ret #k
            return int(k)
        elif op == 0x16:  # ret a
            return a
        else:
            raise AssertionError(f"opcode {op:#x} not interpreted")


@pytest.mark.parametrize("arch_name", ["x86_64", "aarch64"])
def test_the_filter_refuses_the_right_numbers_on_each_architecture(arch_name: str) -> None:
    arch = library()[arch_name]
    program = compile_filter(arch)
    numbers = NUMBERS[arch_name]

    def action(name: str, *args: int) -> int:
        return run_bpf(program, numbers[name], arch, args)

    for name in ("add_key", "request_key", "keyctl", "ptrace", "mount"):
        assert action(name) == errno_action(errno.EPERM), name
    assert action("clone3") == errno_action(errno.ENOSYS)
    assert action("io_uring_setup") == errno_action(errno.ENOSYS)
    # A new user namespace, alone or with other flags, is refused; a fork or a thread is not.
    for name in ("clone", "unshare"):
        assert action(name, CLONE_NEWUSER) == errno_action(errno.EPERM), name
        assert action(name, CLONE_NEWUSER | SIGCHLD | 0x100_0000_0000) == errno_action(errno.EPERM)
    assert action("clone", SIGCHLD) == ALLOW
    assert action("clone", 0x3D0F00) == ALLOW  # glibc's pthread_create flags
    assert action("unshare", 0x20000) == ALLOW  # CLONE_NEWNS: the kernel wants a capability
    for name in ("read", "openat"):
        assert action(name) == ALLOW, name
    # The other architecture's numbers mean other calls here: a call through another ABI dies.
    other = library()["aarch64" if arch_name == "x86_64" else "x86_64"]
    assert run_bpf(program, numbers["read"], other) == KILL_PROCESS


def test_x32_system_calls_die_on_x86_64() -> None:
    arch = library()["x86_64"]
    program = compile_filter(arch)
    assert run_bpf(program, 0x40000000 | NUMBERS["x86_64"]["keyctl"], arch) == KILL_PROCESS


def test_the_native_filter_is_built_once_and_covers_every_denied_name() -> None:
    library()
    assert sandbox_filter() is sandbox_filter()
    # Every name resolved (compile_filter refuses an unknown one rather than leave a hole).
    assert {"add_key", "keyctl", "request_key", "clone3", "ptrace", "bpf", "mount"} <= set(DENIED)


def test_a_missing_libseccomp_is_a_reason_not_to_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.delitem(sys.modules, "pyseccomp", raising=False)
    sandbox_filter.cache_clear()
    try:
        found = probe(smoke=False)
    finally:
        sandbox_filter.cache_clear()
    assert any("libseccomp not found (apt-get install libseccomp2)" in r for r in found.reasons), found


# Inside a real sandbox: the errno each call comes back with. Numbers are resolved on the host by
# libseccomp for this machine. clone with stack 0 forks; a child (were it allowed) leaves at once.
CALLS = r"""
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
numbers = json.loads(sys.argv[1])
def call(name, *args):
    ctypes.set_errno(0)
    result = libc.syscall(numbers[name], *[ctypes.c_ulong(a) for a in args])
    if result == 0 and name == "clone":
        os._exit(0)
    if result > 0 and name == "clone":
        os.waitpid(result, 0)
    return errno.errorcode.get(ctypes.get_errno(), "ok") if result == -1 else "ok"
print("add_key", call("add_key", 0, 0, 0, 0, 0))
print("keyctl", call("keyctl", 0, -4 & (2**64 - 1), 0))
print("clone-newuser", call("clone", 0x10000000 | 17, 0, 0, 0, 0))
print("clone-fork", call("clone", 17, 0, 0, 0, 0))
print("clone3", call("clone3", 0, 0))
print("ptrace", call("ptrace", 0, 0, 0, 0))
print("perf_event_open", call("perf_event_open", 0, 0, -1 & (2**64 - 1), -1 & (2**64 - 1), 0))
print("io_uring_setup", call("io_uring_setup", 1, 0))
print("userfaultfd", call("userfaultfd", 1))
# os.unshare is Python 3.12's; Debian 12's python3 is 3.11, so libc's unshare() is called the same way.
unshare = getattr(os, "unshare", None)
if unshare is None:
    def unshare(flags):
        if libc.unshare(flags) == -1:
            raise OSError(ctypes.get_errno(), "unshare")
try:
    unshare(0x10000000)
    print("unshare ok")
except OSError as error:
    print("unshare", errno.errorcode[error.errno])
"""


@pytest.mark.usefixtures("sandboxing")
async def test_inside_a_sandbox_the_denied_calls_fail_and_fork_works(dirs: Dirs) -> None:
    names = ["add_key", "keyctl", "clone", "clone3", "ptrace", "perf_event_open", "io_uring_setup"]
    numbers = {name: native_number(name) for name in [*names, "userfaultfd"]}
    (dirs.work / "calls.py").write_text(CALLS)
    result, lines = await run_lines(spec_for(dirs, ["python3", "/app/calls.py", json.dumps(numbers)]))
    assert result.exit_code == 0, lines
    assert lines == [
        "add_key EPERM",
        "keyctl EPERM",
        "clone-newuser EPERM",
        "clone-fork ok",
        "clone3 ENOSYS",
        # Unfiltered, PTRACE_TRACEME would succeed and perf_event_open(NULL) say EFAULT.
        "ptrace EPERM",
        "perf_event_open EPERM",
        "io_uring_setup ENOSYS",
        "userfaultfd EPERM",
        "unshare EPERM",
    ]


@pytest.mark.usefixtures("sandboxing")
async def test_unshare_cannot_make_a_user_namespace(dirs: Dirs) -> None:
    script = "unshare -U true && echo made-one; unshare -Ur id -u && echo made-another; echo done"
    result, lines = await run_lines(spec_for(dirs, sh(script)))
    assert "made-one" not in lines and "made-another" not in lines, lines
    assert sum("Operation not permitted" in line for line in lines) == 2, lines
    assert lines[-1] == "done"


# What builds do, under the filter: threads (glibc's clone3 falls back to clone), fork, posix_spawn,
# multiprocessing, git, and Node with its thread pool, worker threads and child processes.
BUILD = r"""
set -e
python3 - <<'EOF'
import concurrent.futures, multiprocessing, subprocess
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    assert sum(pool.map(lambda n: n * n, range(10))) == 285
with multiprocessing.Pool(2) as processes:
    assert processes.map(abs, [-1, -2]) == [1, 2]
assert subprocess.run(["sh", "-c", "echo spawned"], capture_output=True).stdout == b"spawned\n"
print("python ok")
EOF
cd /app && git init -q repo && cd repo && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m one
git log --format=%s
node -e '
const { Worker } = require("worker_threads");
const { execFileSync } = require("child_process");
const fs = require("fs/promises");
new Worker("require(\"worker_threads\").parentPort.postMessage(6*7)", { eval: true })
  .on("message", async (n) => {
    await fs.writeFile("/app/node.txt", String(n));
    const back = await fs.readFile("/app/node.txt", "utf8");
    console.log("node", back, execFileSync("sh", ["-c", "echo child"]).toString().trim());
  });
'
"""


@pytest.mark.usefixtures("sandboxing")
async def test_threads_forks_git_and_node_work_under_the_filter(dirs: Dirs) -> None:
    result, lines = await run_lines(spec_for(dirs, sh(BUILD)), seconds=60)
    assert result.exit_code == 0, lines
    assert lines == ["python ok", "one", "node 42 child"], lines


def _reachable(host: str) -> None:
    require_reachable(host, 443)


@pytest.mark.network
@pytest.mark.usefixtures("sandboxing")
async def test_npm_view_reaches_the_registry(dirs: Dirs) -> None:
    _reachable("registry.npmjs.org")
    env = sandbox_env({"npm_config_update_notifier": "false"})
    spec = spec_for(dirs, sh("cd /app && npm view left-pad version"), env=env, network=Network.INTERNET)
    result, lines = await run_lines(spec, seconds=90)
    assert result.exit_code == 0, lines
    assert lines[-1].count(".") == 2, lines


def test_the_filter_costs_a_few_milliseconds_per_process_and_nothing_per_sandbox() -> None:
    library()
    started = time.perf_counter()
    for _ in range(20):
        compile_filter()
    per_build = (time.perf_counter() - started) / 20
    assert per_build < 0.05, per_build
    # What each sandbox pays is writing ~0.3 KiB into a pipe (launch._data_fd), and bwrap loading it.
    assert len(sandbox_filter()) < 4096
