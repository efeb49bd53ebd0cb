"""A secret is masked in the forms a build prints it in, and too short a secret is refused on save."""

from __future__ import annotations

import base64
import json
import urllib.parse

from activities.logsink import MASK, Masker
from models.secrets import secret_value_problem

SECRET = 'p@ss w/rd"\\&=+é'


def test_base64_url_encoded_and_json_escaped_forms_are_masked() -> None:
    mask = Masker([SECRET])
    printed = [
        f"Authorization: Basic {base64.b64encode(SECRET.encode()).decode()}",
        f"token={base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip('=')}",
        f"postgres://app:{urllib.parse.quote(SECRET, safe='')}@db/app",
        f"?q={urllib.parse.quote_plus(SECRET)}",
        json.dumps({"password": SECRET}),
        json.dumps({"password": SECRET}, ensure_ascii=False),
    ]
    for line in printed:
        masked = mask(line)
        assert MASK in masked, line
        assert SECRET not in masked and "p@ss" not in masked and "cEBzcy" not in masked, masked


def test_values_under_four_characters_are_refused_on_save_and_never_blank_a_log() -> None:
    assert secret_value_problem("abc") is not None
    assert "at least 4" in (secret_value_problem("") or "")
    assert secret_value_problem("abcd") is None
    assert secret_value_problem("x" * (64 * 1024 + 1)) is not None
    # One stored before the rule is left alone rather than masking every "ab" in the log.
    assert Masker(["ab"])("tab cab") == "tab cab"
