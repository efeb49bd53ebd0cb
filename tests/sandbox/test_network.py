"""The network: outbound internet and the registries yes; the host's loopback, the host's own
addresses and 169.254.0.0/16 no; a preview server reached through its port forward.

Traffic goes only to loopback, the host's own address (a server this test opens) and the package
registries; the link-local range is checked in the sandbox's routes, never by connecting to it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activities.sandbox import Network, PortForward, sandbox_env, start_server
from activities.sandbox.network import host_addresses
from tests.sandbox.conftest import Dirs, run_lines, sh, spec_for

pytestmark = [pytest.mark.usefixtures("sandboxing"), pytest.mark.timeout(60)]

CONNECT = """
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print(target, "CONNECTED")
    except OSError as error:
        print(target, "refused:", type(error).__name__, error.errno)
"""


def listener(address: str) -> socket.socket:
    server = socket.socket()
    server.bind((address, 0))
    server.listen()
    server.setblocking(False)
    return server


@pytest.fixture
def host_servers() -> Iterator[list[socket.socket]]:
    """A TCP server on the host's loopback and one on each of its own addresses."""
    servers = [listener(a) for a in ["127.0.0.1", *host_addresses()]]
    yield servers
    for server in servers:
        server.close()


def accepted_any(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


async def test_the_hosts_loopback_and_own_addresses_are_unreachable(
    dirs: Dirs, host_servers: list[socket.socket]
) -> None:
    loopback_port = host_servers[0].getsockname()[1]
    # 10.0.2.2 is slirp's gateway: without --disable-host-loopback it would be the host's 127.0.0.1.
    targets = [f"127.0.0.1:{loopback_port}", f"10.0.2.2:{loopback_port}"]
    targets += [f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in host_servers[1:]]
    assert len(targets) >= 3, "the host should have an address besides loopback"
    spec = spec_for(dirs, ["/usr/bin/python3", "-c", CONNECT, *targets], network=Network.INTERNET)
    result, lines = await run_lines(spec)
    assert result.exit_code == 0, lines
    assert len(lines) == len(targets) and not any("CONNECTED" in line for line in lines), lines
    assert not any(accepted_any(server) for server in host_servers)


async def test_link_local_and_the_hosts_addresses_are_routed_nowhere(dirs: Dirs) -> None:
    spec = spec_for(dirs, ["/usr/sbin/ip", "route"], network=Network.INTERNET)
    result, lines = await run_lines(spec)
    assert result.exit_code == 0
    closed = {
        line.split()[1] for line in lines if line.split()[0] in ("unreachable", "blackhole", "prohibit")
    }
    assert "169.254.0.0/16" in closed, lines
    assert set(host_addresses()) <= {c.removesuffix("/32") for c in closed}, lines
    assert any(line.startswith("default via 10.0.2.2 dev tap0") for line in lines), lines


async def test_there_is_no_ipv6_route_out(dirs: Dirs) -> None:
    """slirp4netns runs without --enable-ipv6: the host's IPv6 addresses need no closing."""
    spec = spec_for(dirs, ["/usr/sbin/ip", "-6", "route"], network=Network.INTERNET)
    result, lines = await run_lines(spec)
    assert result.exit_code == 0
    assert all(line.startswith("fe80::/64 dev tap0") for line in lines), lines


async def test_the_routes_cannot_be_taken_out_from_inside(dirs: Dirs) -> None:
    # Also as "root" of a user namespace of its own: the sandbox's network namespace belongs to the
    # host's user namespace, where the sandbox holds no capability.
    script = "ip route del 169.254.0.0/16 2>&1; unshare -Ur ip route del 169.254.0.0/16 2>&1; ip route"
    spec = spec_for(dirs, sh(script), network=Network.INTERNET)
    result, lines = await run_lines(spec)
    assert sum("Operation not permitted" in line for line in lines) == 2, lines
    assert "unreachable 169.254.0.0/16" in [line.strip() for line in lines]


async def test_no_network_means_loopback_only(dirs: Dirs) -> None:
    result, lines = await run_lines(spec_for(dirs, ["/usr/sbin/ip", "-o", "link"]))
    assert [line.split(":")[1].strip() for line in lines] == ["lo"]


@pytest.mark.network
@pytest.mark.usefixtures("registry")
async def test_dns_and_a_package_registry_work(dirs: Dirs) -> None:
    env = sandbox_env({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_DEFAULT_TIMEOUT": "20"})
    script = (
        "getent hosts pypi.org >/dev/null && echo resolved; "
        "python3 -m pip download --no-deps --no-cache-dir -q -d /app/dl six && ls /app/dl"
    )
    spec = spec_for(dirs, sh(script), env=env, network=Network.INTERNET)
    result, lines = await run_lines(spec, seconds=60)
    assert result.exit_code == 0, lines
    assert lines[0] == "resolved"
    assert any(line.startswith("six-") and line.endswith(".whl") for line in lines), lines
    assert (dirs.work / "dl").stat().st_uid == 65534


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, seconds: float) -> httpx.Response | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.05)
    return None


def port_closed(port: int, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.02)
    return False


def test_a_server_answers_on_its_forwarded_port_again_after_a_restart(dirs: Dirs, tmp_path: Path) -> None:
    (dirs.work / "index.html").write_text("hello from the sandbox")
    host_port = free_port()
    spec = spec_for(
        dirs,
        ["/usr/bin/python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"],
        network=Network.INTERNET,
        forward=PortForward(host_port=host_port, sandbox_port=8000),
    )
    # The local runtime restarts a preview that died on the same host port, at once.
    for attempt in range(2):
        with open(tmp_path / f"server-{attempt}.log", "wb") as log:
            server = start_server(spec, output=log)
            try:
                answer = get(f"http://127.0.0.1:{host_port}/index.html", seconds=15)
                assert answer is not None and answer.status_code == 200
                assert answer.text == "hello from the sandbox"
            finally:
                server.stop(grace=2.0)
        # The forward goes with the sandbox.
        assert port_closed(host_port)
