"""The demo app: serves the built page on $PORT, on the address previewd names in $HOST.

previewd sets HOST: 0.0.0.0 in a sandbox (its port is forwarded from the host, which reaches the
sandbox's own interface, not its loopback), 127.0.0.1 where PR code runs unsandboxed."""

import functools
import http.server
import os

handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="build")
address = (os.environ.get("HOST", "0.0.0.0"), int(os.environ["PORT"]))
server = http.server.ThreadingHTTPServer(address, handler)
print(f"serving on port {os.environ['PORT']}", flush=True)
server.serve_forever()
