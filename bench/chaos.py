"""The chaos suite in full (issue 12, "Show it"): more load than the bounded test
(tests/chaos/test_chaos.py, the same harness), each fault mid-build, and one table: per fault the time
to recover (/readyz ok, a fresh push live) and what the load generator saw in that window (deliveries,
refused, p99 acknowledgement); then the totals and every problem found. Exits 1 when there is one.

    python -m bench.chaos [--seed 12] [--max-open 6] [--github-fail-rate 0.0] [--keep-logs DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.common import table
from tests.chaos.scenario import Report, Scenario, run


def _ms(value: float) -> str:
    return f"{value:.0f}"


def render(report: Report) -> str:
    rows: list[list[object]] = [
        [f.fault, f"{f.ready_after:.1f}", f"{f.live_after:.1f}", str(f.deliveries), str(f.refused),
         _ms(f.p99_ack_ms)]
        for f in report.faults
    ]  # fmt: skip
    lines = [
        table(
            [
                "kill -9 (mid-build)",
                "/readyz ok after s",
                "fresh push live after s",
                "deliveries",
                "refused",
                "p99 ack ms",
            ],
            rows,
        ),  # fmt: skip
        "",
        f"PRs: {report.prs}; deliveries: {report.deliveries} ({report.refused} refused), "
        f"p99 acknowledgement {_ms(report.p99_ack_ms)} ms over the run "
        f"(p99 from send until recorded in Postgres: {_ms(report.p99_recorded_ms)} ms)",
        f"redelivery asked GitHub for {report.redelivery_asked}; drift: {report.drift_actions}",
        f"settled {report.settled_after:.1f}s after the reconciles "
        f"(GitHub {report.github_settled_after:.1f}s); "
        f"{report.checked_deliveries} accepted deliveries checked acted on once "
        f"({report.repeated_signals} signalled again after a fault, dropped by the workflow)",
    ]
    if report.load_errors:
        lines.append(f"load generator errors: {report.load_errors}")
    lines.append("problems: none" if not report.problems else "problems:\n  " + "\n  ".join(report.problems))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--max-open", type=int, default=6)
    parser.add_argument("--github-fail-rate", type=float, default=0.0)
    parser.add_argument("--keep-logs", type=Path, help="copy every piece's log here at the end")
    args = parser.parse_args()
    scenario = Scenario(
        seed=args.seed, max_open=args.max_open, pause=(0.4, 1.2), warmup=20.0, timeout=300.0,
        github_fail_rate=args.github_fail_rate, keep_logs=args.keep_logs,
    )  # fmt: skip
    report = run(scenario)
    sys.stdout.write(render(report) + "\n")
    return 1 if report.problems or report.load_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
