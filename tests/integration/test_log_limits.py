"""Log limits through the real path (signed webhook, worker, preview, Postgres, dashboard): a preview's
runtime log keeps its newest 50,000 lines and says how many were dropped, a build log keeps its first
100,000 and says the rest was cut, and runtime.log is rotated without a line copied twice or lost."""

from __future__ import annotations

import re
from typing import Any

from tests.integration.system import AppRepo, System, wait_for

OURS = re.compile(r"^runtime line (\d{6}) x+$")
PRINTED = 100_000
# About 110 bytes a line: 11 MB in all, so runtime.log is rotated once at its 10 MB.
PRINT_RUNTIME = (
    """python3 -c 'import sys; [sys.stdout.write("runtime line %06d %s\\n" % (i, "x" * 90))"""
    """ for i in range(100000)]'"""
    " && exec python3 server.py"
)
PRINT_BUILD = "python3 -c 'for i in range(150000): print(\"build line\", i)' && python3 build.py"


def runtime_rows(system: System, deployment_id: Any) -> list[dict[str, Any]]:
    return system.rows(
        "SELECT id, message, level FROM deployment_logs"
        " WHERE deployment_id = :d AND type = 'runtime' ORDER BY id",
        d=deployment_id,
    )


def test_a_preview_printing_100000_lines_keeps_the_newest_50000(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo, start_command=PRINT_RUNTIME)
    sha = repo.commit("chatty preview")
    system.pull_request(project, "opened", 1, sha)
    deployment = system.wait_status(project["id"], 1, sha, "active")
    wait_for(
        lambda: any(
            r["message"].startswith("runtime line 099999") for r in runtime_rows(system, deployment["id"])
        ),
        timeout=60,
        what="the last printed line in the runtime log",
    )

    rows = runtime_rows(system, deployment["id"])  # one snapshot: each flush drops as it adds
    note, kept = rows[0], rows[1:]
    assert len(kept) == 50_000
    ours = [int(m.group(1)) for r in kept if (m := OURS.match(r["message"]))]
    # The newest lines, each once, in order (runtime.log was rotated under them: none copied twice,
    # none skipped), with the server's own lines after them.
    assert ours == list(range(PRINTED - len(ours), PRINTED))
    assert all(not OURS.match(r["message"]) for r in kept[len(ours) :])
    assert note["level"] == "warning"
    assert note["message"] == (
        f"… {PRINTED - len(ours):,} earlier lines dropped: a deployment keeps its newest 50,000 runtime lines"
    )
    work = system.root / "data" / "work" / str(deployment["id"])
    assert (work / "runtime.log.1").exists(), "runtime.log was not rotated at 10 MB"
    assert (work / "runtime.log.1").stat().st_size < 11 * 1024 * 1024

    # The dashboard opens the log at its tail, and paging back reaches the note over the gap.
    dashboard = system.dashboard()
    try:
        panel = dashboard.get(f"/deployments/{deployment['id']}/logs", params={"type": "runtime"})
        assert panel.status_code == 200
        assert "runtime line 099999" in panel.text
        ids = [int(i) for i in re.findall(r'data-id="(\d+)"', panel.text)]
        before = ids[0]
        found_note = False
        for _ in range(200):
            page = dashboard.get(
                f"/deployments/{deployment['id']}/logs", params={"type": "runtime", "before": before}
            )
            page_ids = [int(i) for i in re.findall(r'data-id="(\d+)"', page.text)]
            if "earlier lines dropped" in page.text:
                found_note = True
                break
            before = page_ids[0]
        assert found_note, "paging back never reached the note line"
        # The live stream from the start reads across the gap: the note, then the kept lines.
        with dashboard.stream(
            "GET", f"/deployments/{deployment['id']}/logs/stream", params={"type": "runtime"}
        ) as stream:
            text = ""
            for chunk in stream.iter_text():
                text += chunk
                if "runtime line 0" in text:
                    break
        assert "earlier lines dropped" in text
        assert text.index("earlier lines dropped") < text.index("runtime line 0")
    finally:
        dashboard.close()


def test_a_build_printing_150000_lines_keeps_100000_and_goes_on(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo, build_command=PRINT_BUILD)
    sha = repo.commit("chatty build")
    system.pull_request(project, "opened", 2, sha)
    deployment = system.wait_status(project["id"], 2, sha, "active", timeout=180)

    build = system.rows(
        "SELECT id, message, level FROM deployment_logs"
        " WHERE deployment_id = :d AND type = 'build' ORDER BY id",
        d=deployment["id"],
    )
    [count] = system.rows(
        "SELECT lines, dropped, note_id FROM deployment_log_counts"
        " WHERE deployment_id = :d AND type = 'build'",
        d=deployment["id"],
    )
    assert len(build) == 100_001  # the first 100,000 lines and the note
    note = build[-1]
    assert note["id"] == count["note_id"] and note["level"] == "warning"
    assert count["dropped"] == count["lines"] - 100_000 > 50_000
    assert note["message"] == (
        f"… build output past 100,000 lines is not kept: {count['dropped']:,} more lines cut"
        " (the build went on)"
    )
    printed = [line["message"] for line in build if line["message"].startswith("build line ")]
    assert printed == [f"build line {i}" for i in range(len(printed))]
    assert "build line 149999" not in {line["message"] for line in build}
