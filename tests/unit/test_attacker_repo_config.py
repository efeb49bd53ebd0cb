"""previewd.toml written by an attacker: every file, however crafted, ends as a RepoConfigError naming
its line (said on the PR) within a bounded time, never as another exception (a retried clone that
tells nobody) or as minutes of the worker's CPU."""

from __future__ import annotations

import time

import pytest

from models.repo_config import MAX_FILE_BYTES, RepoConfigError, key_lines, parse

# On this 2-core box a plain 64 KiB file of short keys takes tomllib about 0.2-1 s: a crafted one may
# cost a few times that, never the minute and more it took before the guards.
BOUND_SECONDS = 5.0


def _fill(line: str) -> str:
    """`line` repeated (numbered, so keys differ) up to the most previewd reads."""
    lines, size, number = [], 0, 0
    while size + len(line) + 16 < MAX_FILE_BYTES:
        lines.append(line.format(n=number))
        size += len(lines[-1]) + 1
        number += 1
    return "\n".join(lines) + "\n"


HALF = MAX_FILE_BYTES // 2 - 16
CRAFTED = {
    "nested arrays": "x = " + "[" * HALF + "]" * HALF + "\n",
    "nested inline tables": "x = " + "{a=" * (HALF // 3) + "1" + "}" * (HALF // 3) + "\n",
    "one very deep dotted key": "a" + ".a" * HALF + " = 1\n",
    "one very deep table header": "[a" + ".a" * HALF + "]\n",
    "a deep key in an inline table": "x = {a" + ".a" * (HALF - 8) + " = 1}\n",
    "many keys at the depth allowed": _fill("k{n}" + ".a" * 64 + " = 1"),
    "a header of spaces": "[a" + " " * (MAX_FILE_BYTES - 16) + ".b]\n",
    "header-like line in a string": 'x = """\n[' + " " * (MAX_FILE_BYTES - 32) + 'x\n"""\n',
    "key-like line in a string": 'x = """\n' + "a ." * (HALF // 3) + "a" + " " * HALF + 'x\n"""\n',
}


@pytest.mark.parametrize("text", CRAFTED.values(), ids=CRAFTED.keys())
def test_a_crafted_file_is_refused_naming_its_line_in_bounded_time(text: str) -> None:
    assert len(text.encode()) <= MAX_FILE_BYTES
    started = time.monotonic()
    with pytest.raises(RepoConfigError) as caught:
        parse(text)
    key_lines(text)
    assert time.monotonic() - started < BOUND_SECONDS
    assert all(problem.startswith("previewd.toml:") for problem in caught.value.problems)


def test_a_deep_file_is_said_to_be_nested_too_deeply() -> None:
    assert parse_problems(CRAFTED["nested arrays"]) == [
        "previewd.toml:1: not valid TOML: values are nested too deeply"
    ]


def test_a_line_with_too_many_dots_is_refused_before_tomllib_reads_it() -> None:
    assert parse_problems("[start]\n" + CRAFTED["one very deep dotted key"]) == [
        "previewd.toml:2: more than 64 dots on one line are not read"
    ]


def test_dotted_keys_and_quoted_dots_keep_their_lines() -> None:
    text = 'root_directory = "a"\n[fly . guest]\ncpus = 2\n[env]\n"A.B" = "x"\nfly.region = "ams"\n'
    assert key_lines(text) == {
        ("root_directory",): 1,
        ("fly", "guest"): 2,
        ("fly", "guest", "cpus"): 3,
        ("env",): 4,
        ("env", "A.B"): 5,
        ("env", "fly", "region"): 6,
    }


def parse_problems(text: str) -> list[str]:
    with pytest.raises(RepoConfigError) as caught:
        parse(text)
    return caught.value.problems
