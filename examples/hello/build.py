"""The demo app's build step: renders the page with the commit it was built from."""

import html
import os
import pathlib

sha = os.environ.get("COMMIT_SHA", "unknown")
pr = os.environ.get("PR_NUMBER", "?")
message = pathlib.Path("message.txt").read_text().strip() if pathlib.Path("message.txt").exists() else "Hello"
out = pathlib.Path("build")
out.mkdir(exist_ok=True)
(out / "index.html").write_text(
    f"""<!doctype html><html><head><meta charset="utf-8"><title>Preview of PR #{html.escape(pr)}</title></head>
<body style="font-family:system-ui;margin:3rem">
<h1>{html.escape(message)}</h1>
<p>This is the live preview of pull request #{html.escape(pr)}.</p>
<p>Built from commit <code id="commit">{html.escape(sha)}</code></p>
</body></html>
"""
)
print(f"built build/index.html for commit {sha}")
