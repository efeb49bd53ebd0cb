"""What the CLI says to a person: short lines on stderr/stdout, no logging framework noise."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> SystemExit:
    sys.stderr.write(f"previewd: {message}\n")
    return SystemExit(code)
