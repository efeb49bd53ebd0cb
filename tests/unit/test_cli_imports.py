"""The CLI stands apart from the web app: what both need lives outside web/ (models/api_tokens.py,
webhook_signature.py), and only `previewd web` loads web/, when it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_imports_nothing_from_web() -> None:
    # A fresh interpreter: this test process may have imported web/ already.
    code = "import sys, cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] == 'web'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
