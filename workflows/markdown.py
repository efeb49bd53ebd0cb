"""Text from the outside world (a `/preview` argument, a sha someone typed) echoed in a PR comment.

Pure functions: the workflow composes notices with them, and they replay the same every time."""

from __future__ import annotations

import re

MAX_ECHO_CHARS = 60


def code_span(text: str) -> str:
    """`text` as one inline code span it cannot leave: CommonMark closes a span only on a backtick run
    of the opening's length, so the fence is one backtick longer than any run inside; line breaks
    (which would end a blockquote) become spaces, and the echo is cut short."""
    text = re.sub(r"[\r\n\t]+", " ", text)[:MAX_ECHO_CHARS] or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A span that starts or ends with a backtick needs a space between it and the fence (stripped
    # again when rendered).
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
