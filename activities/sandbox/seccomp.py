"""The seccomp filter every sandbox runs under: a short list of system calls refused, all else allowed.

What it closes:
- The kernel's keyrings. They belong to a uid, not to a namespace, and every sandbox runs as uid
  65534 in the host's user namespace: without this, one project's build could leave a key that a
  later sandbox of another project reads back, and one PR could use up the uid's key quota.
- New user namespaces. Inside one, PR code holds every capability over what it creates there (mount
  tables, network devices, ...), which reaches kernel code that an unprivileged process otherwise
  never does. clone3 passes its flags in a struct a filter cannot read, so it fails with ENOSYS, as
  if the kernel were older: glibc (and Go, Rust, libuv) then fall back to clone, whose flags are
  checked.
- A few more interfaces with a record of kernel exploits that no build or preview needs (Docker's
  default profile refuses them too). The rest of that profile is mostly calls that need a
  capability the sandbox has not got, which the kernel refuses anyway.

The BPF program is compiled once per process by libseccomp (Debian's libseccomp2, through the
pyseccomp ctypes binding), for the native architecture only, so the syscall numbers are the ones of
the machine it runs on (x86_64 and aarch64 differ). A call made through another ABI (32-bit x86 via
int 0x80, x32) kills the process: the numbers above would not apply to it. bwrap loads the program
(`--seccomp FD`) just before it execs setpriv, after the sandbox is set up, and every process of the
sandbox inherits it; a process can add filters, never remove one.
"""

from __future__ import annotations

import errno
import functools
import tempfile
from typing import Any

CLONE_NEWUSER = 0x10000000

# Syscall names -> the errno they fail with. EPERM where the kernel itself would say "not allowed",
# ENOSYS where callers must believe the call does not exist and fall back to another.
DENIED: dict[str, int] = {
    # Keyrings: shared by every sandbox (same uid), so a channel between projects.
    "add_key": errno.EPERM,
    "keyctl": errno.EPERM,
    "request_key": errno.EPERM,
    # clone3's flags are out of a filter's reach (see above); unshare and clone are checked below.
    "clone3": errno.ENOSYS,
    # Tracing other processes of the sandbox: nothing a build needs, a long history of escalations.
    "ptrace": errno.EPERM,
    # Kernel performance counters and eBPF programs: large attack surfaces, side channels.
    "perf_event_open": errno.EPERM,
    "bpf": errno.EPERM,
    # Lets an exploit stall the kernel mid-copy at will (widens race windows); nothing here uses it.
    "userfaultfd": errno.EPERM,
    # io_uring: a second path into much of the kernel, behind many recent CVEs. libuv (Node) and
    # others fall back to ordinary calls when it is missing.
    "io_uring_setup": errno.ENOSYS,
    "io_uring_enter": errno.ENOSYS,
    "io_uring_register": errno.ENOSYS,
    # Mount tables, old and new API: the sandbox's are set up by bwrap before the filter applies.
    "mount": errno.EPERM,
    "umount2": errno.EPERM,
    "pivot_root": errno.EPERM,
    "fsopen": errno.EPERM,
    "fsconfig": errno.EPERM,
    "fsmount": errno.EPERM,
    "fspick": errno.EPERM,
    "move_mount": errno.EPERM,
    "open_tree": errno.EPERM,
    "mount_setattr": errno.EPERM,
    # The host's kernel itself: refused for lack of capabilities anyway, and never to be reached.
    "kexec_load": errno.EPERM,
    "kexec_file_load": errno.EPERM,
    "init_module": errno.EPERM,
    "finit_module": errno.EPERM,
    "delete_module": errno.EPERM,
}

# Calls that fail only when their flags (argument 0) ask for a new user namespace.
DENIED_WITH_NEWUSER = ("unshare", "clone")

LIBRARY_PACKAGE = "libseccomp2"


class SeccompUnavailable(Exception):
    pass


def _library() -> Any:
    """pyseccomp, which loads libseccomp.so.2 as it is imported (and raises if it is missing)."""
    try:
        import pyseccomp
    except ImportError as error:
        raise SeccompUnavailable(f"pyseccomp is not installed (a dependency of previewd): {error}") from error
    except (RuntimeError, OSError) as error:
        missing = f"libseccomp not found (apt-get install {LIBRARY_PACKAGE}): {error}"
        raise SeccompUnavailable(missing) from error
    return pyseccomp


def supported_arches() -> dict[str, int]:
    """Architectures this filter is written for: clone's flags are its argument 0 there (not on
    s390x), and the tests check their syscall numbers."""
    seccomp = _library()
    return {"x86_64": seccomp.Arch.X86_64, "aarch64": seccomp.Arch.AARCH64}


def compile_filter(arch: int | None = None) -> bytes:
    """The BPF program (struct sock_filter[]) for `arch` (a pyseccomp.Arch value), native if None."""
    seccomp = _library()
    native = seccomp.system_arch()
    target = native if arch is None else arch
    if target not in supported_arches().values():
        raise SeccompUnavailable(f"no seccomp filter for this architecture (audit arch {target:#x})")
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        if target != native:
            # Only for the tests: names still resolve natively, and libseccomp translates them.
            rules.remove_arch(seccomp.Arch.NATIVE)
            rules.add_arch(target)
        rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
        for name, error in DENIED.items():
            rules.add_rule(seccomp.ERRNO(error), native_number(name))
        new_user = seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)
        for name in DENIED_WITH_NEWUSER:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), native_number(name), new_user)
        with tempfile.TemporaryFile() as exported:
            rules.export_bpf(exported)
            exported.seek(0)
            program = exported.read()
    except OSError as error:
        raise SeccompUnavailable(f"libseccomp could not build the filter: {error}") from error
    if not program or len(program) % 8:
        raise SeccompUnavailable(f"libseccomp exported {len(program)} bytes, not a BPF program")
    return program


def native_number(name: str) -> int:
    """The number of a system call on this machine, as libseccomp knows it."""
    seccomp = _library()
    number = int(seccomp.resolve_syscall(seccomp.Arch.NATIVE, name))
    if number < 0:
        # Unknown to this libseccomp (too old): refusing to sandbox beats a filter with a hole.
        raise SeccompUnavailable(f"libseccomp does not know the system call {name}")
    return number


@functools.cache
def sandbox_filter() -> bytes:
    """The native filter, compiled on first use (some ms) and kept for the life of the process.
    Raises SeccompUnavailable; a failure is not cached, the next call tries again."""
    return compile_filter()
