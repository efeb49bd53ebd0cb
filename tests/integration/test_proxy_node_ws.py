"""The whole path with another WebSocket implementation on the far side: a Node app using the `ws`
package from npm, deployed through a signed webhook (installed and run in its sandbox), spoken to
through the proxy at `{app}.localhost`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from activities.sandbox import probe
from tests.integration.system import AppRepo, System
from tests.requirements import require, require_reachable

NODE_APP = Path(__file__).parent / "node_ws_app"


@pytest.fixture(scope="module")
def npm() -> None:
    require_reachable("registry.npmjs.org", 443)
    for tool in ("node", "npm"):
        require(shutil.which(tool, path="/usr/local/bin:/usr/bin:/bin") is not None, f"no {tool} in /usr")


async def test_a_node_ws_preview_echoes_through_the_proxy(system: System, repo: AppRepo, npm: None) -> None:
    project = system.add_project(
        repo,
        install_command="npm install --no-audit --no-fund",
        build_command=None,
        start_command="node server.js",
    )
    sha = repo.commit(
        "node ws", {name: (NODE_APP / name).read_text() for name in ("package.json", "server.js")}
    )
    system.pull_request(project, "opened", 71, sha)
    app = system.wait_status(project["id"], 71, sha, "active", timeout=300)["app_name"]
    host = f"{app}.localhost:{system.preview_port}"
    async with connect(
        f"ws://{host}/",
        host="127.0.0.1",
        port=system.preview_port,
        proxy=None,
        subprotocols=[Subprotocol("echo.v1")],
    ) as ws:
        assert ws.subprotocol == "echo.v1"
        seen = json.loads(await ws.recv())
        assert seen == {
            "host": host,
            "forwardedFor": "127.0.0.1",
            "forwardedHost": host,
            "forwardedProto": "http",
        }
        await ws.send("hello from the test")
        assert await ws.recv() == "hello from the test"
        await ws.send(b"\x00\xffbinary")
        assert await ws.recv() == b"\x00\xffbinary"
        await ws.send("close 4003 node says bye")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4003, "node says bye")

    # A second push with the same package.json starts from a copy of the live deployment's
    # node_modules (issue 13, fast rebuilds; sandboxed only), and the WebSocket still echoes.
    first = system.wait_status(project["id"], 71, sha, "active")
    server = (NODE_APP / "server.js").read_text().replace("node ws preview", "node ws preview, again")
    again = repo.commit("node ws again", {"server.js": server})
    system.pull_request(project, "synchronize", 71, again)
    second = system.wait_status(project["id"], 71, again, "active", timeout=300)
    copied = second["build_stats"]["reused"].get("node_modules")
    assert copied == (str(first["id"]) if probe().ok else None)
    assert second["build_stats"]["reused"]["mirror"] == "updated"
    assert "node ws preview, again" in system.preview(second["app_name"]).text
    async with connect(f"ws://{host}/", host="127.0.0.1", port=system.preview_port, proxy=None) as ws:
        await ws.recv()  # what the handshake carried
        await ws.send("still here")
        assert await ws.recv() == "still here"
    system.pull_request(project, "closed", 71, again)
