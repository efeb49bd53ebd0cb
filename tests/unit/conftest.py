"""Shared fixtures of the unit tests: an environment with no previewd settings and no `.env`."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Remove every variable Settings reads and run in an empty directory, so no `.env` is picked up."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
