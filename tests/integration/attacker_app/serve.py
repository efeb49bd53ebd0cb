"""A legitimate app: serves its checkout (vendor/, node_modules/) on $HOST:$PORT."""

import http.server
import os

server = http.server.ThreadingHTTPServer(
    (os.environ["HOST"], int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler
)
print(f"serving on {os.environ['HOST']}:{os.environ['PORT']}", flush=True)
server.serve_forever()
