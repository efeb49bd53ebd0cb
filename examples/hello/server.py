"""The demo app: serves the built page on $PORT."""

import functools
import http.server
import os

handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="build")
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), handler)
print(f"serving on port {os.environ['PORT']}", flush=True)
server.serve_forever()
