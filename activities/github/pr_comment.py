"""The one sticky PR comment: a small table in the style of Vercel's and Netlify's bots, found again
by a hidden marker so that no retry, restart or redelivery ever posts a second one."""

from __future__ import annotations

import html

from workflows.activity_io import ReportInput
from workflows.vocabulary import ReportPhase

MARKER = "<!-- previewd:sticky-comment -->"
TITLES: dict[str, str] = {
    ReportPhase.QUEUED: "⏳ Queued",
    ReportPhase.BUILDING: "🔨 Building",
    ReportPhase.DEPLOYING: "🚀 Deploying",
    ReportPhase.READY: "✅ Ready",
    ReportPhase.FAILED: "❌ Failed",
    ReportPhase.DESTROYED: "🧹 Destroyed",
    ReportPhase.AWAITING_APPROVAL: "🔒 Waiting for approval",
    ReportPhase.FORK_BLOCKED: "⛔ Not previewed",
    ReportPhase.SKIPPED: "⏭️ Skipped",
}


def _cell(text: str) -> str:
    # Table cells: no pipes or newlines from the outside world, and no HTML.
    return html.escape(text).replace("|", "\\|").replace("\n", " ")


def comment_body(report: ReportInput, logs_url: str | None) -> str:
    rows: list[tuple[str, str]] = []
    if report.phase:
        rows.append(("Status", TITLES.get(report.phase, report.phase)))
    if report.sha:
        rows.append(("Commit", f"`{report.sha[:12]}`"))
    if report.phase == ReportPhase.READY and report.url:
        rows.append(("Preview", f"[{_cell(report.url)}]({report.url})"))
    if logs_url:
        rows.append(("Logs", f"[deployment logs]({logs_url})"))
    lines = [MARKER, "**previewd** preview of this pull request"]
    if rows:
        lines += ["", "| | |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    if report.phase == ReportPhase.FAILED:
        lines += ["", f"**Error:** {_cell(report.error or 'the deployment failed')}"]
        # The log itself stays in the dashboard (the Logs row), behind its sign-in: on a public
        # repository a comment is read by everyone, and a build log says more than masking can hide.
        lines += ["", "Push a new commit, or comment `/preview redeploy`, to try again."]
    if report.phase == ReportPhase.SKIPPED:
        lines += [
            "",
            "No watched path changed since the live preview's commit, so this commit was not built; "
            "the live preview stays as it was.",
        ]
    if report.phase == ReportPhase.DESTROYED:
        lines += ["", "The preview was removed."]
    if report.phase == ReportPhase.AWAITING_APPROVAL:
        lines += [
            "",
            "This pull request comes from a fork, so its code is not built with the project's secrets "
            "until a maintainer approves it. Someone with push access to the repository can comment "
            f"`/preview approve {report.sha}` to deploy this commit; each new commit needs a new approval.",
        ]
    if report.phase == ReportPhase.FORK_BLOCKED:
        lines += [
            "",
            "This project does not preview pull requests from forks (or previewd runs PR code "
            "without a sandbox here, and then previews no fork).",
        ]
    if report.notice:
        lines += ["", f"> {html.escape(report.notice, quote=False)}"]
    return "\n".join(lines)
