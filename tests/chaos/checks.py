"""What must hold once the load stopped and the system settled, each a list of problems (empty when
it holds), so the test asserts them all at once and the bench reports them."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import datetime
from typing import Any

from tests.chaos.rig import REPO, Rig
from tests.chaos.temporal_view import pending_activities, signalled_delivery_ids, workflow_status
from workflows.vocabulary import DeploymentStatus

IN_FLIGHT = {DeploymentStatus.PENDING, DeploymentStatus.BUILDING, DeploymentStatus.DEPLOYING}
FINAL_DEPLOYMENT_STATES = {"success", "inactive", "failure", "error"}
# A delivery recorded this long before a kill may still be on its way to Temporal when it lands.
FAULT_SLACK = 5.0


def pr_settled(rig: Rig, number: int, pull: dict[str, Any], rows: list[dict[str, Any]]) -> str | None:
    """Why PR `number` has not settled on what GitHub says (None once it has): an open PR is live on
    its head, a closed one has nothing building or live."""
    mine = [r for r in rows if r["pr_number"] == number]
    if any(r["status"] in IN_FLIGHT for r in mine):
        busy = [(r["commit_sha"][:7], r["status"]) for r in mine if r["status"] in IN_FLIGHT]
        return f"PR #{number}: still {busy}"
    live = [r for r in mine if r["status"] == DeploymentStatus.ACTIVE]
    if pull["state"] == "open":
        head = pull["head"]["sha"]
        if [r["commit_sha"] for r in live] != [head]:
            return f"PR #{number} (open at {head[:7]}): live {[r['commit_sha'][:7] for r in live]}"
        return None
    if live:
        return f"PR #{number} (closed): still live at {[r['commit_sha'][:7] for r in live]}"
    return None


def unsettled(rig: Rig) -> list[str]:
    rows = rig.deployments()
    return [why for n, pull in sorted(rig.all_pulls().items()) if (why := pr_settled(rig, n, pull, rows))]


def github_unsettled(rig: Rig) -> list[str]:
    """What GitHub still shows as in progress: a deployment whose newest status is not final (or not
    `success` for an open PR's head), a `previewd` commit status left `pending`."""
    problems = []
    pulls = rig.all_pulls()
    heads = {p["head"]["sha"] for p in pulls.values() if p["state"] == "open"}
    fake = rig.fake
    for deployment in list(fake.deployments.get(REPO, [])):
        statuses = fake.deployment_statuses.get(deployment["id"], [])
        last = statuses[-1]["state"] if statuses else "(no status)"
        number = deployment["environment"].removeprefix("pr-")
        open_head = deployment["sha"] in heads and pulls.get(int(number), {}).get("state") == "open"
        if (open_head and last != "success") or (not open_head and last not in FINAL_DEPLOYMENT_STATES):
            problems.append(f"GitHub Deployment of PR #{number} at {deployment['sha'][:7]} ends {last}")
    for (repo, sha), statuses in list(fake.commit_statuses.items()):
        ours = [s["state"] for s in statuses if s["context"] == "previewd"]
        if repo == REPO and ours and ours[-1] == "pending":
            problems.append(f"commit status of {sha[:7]} left pending")
    return problems


def duplicates(rig: Rig) -> list[str]:
    """One sticky comment per PR; one GitHub Deployment per (PR, sha); one deployment row per (PR,
    sha) apart from those a newer push superseded."""
    problems = []
    rows = rig.deployments()
    deployed = {r["pr_number"] for r in rows}
    for number in sorted(rig.all_pulls()):
        comments = len(rig.fake.comments.get((REPO, number), []))
        if comments > 1 or (number in deployed and comments != 1):
            problems.append(f"PR #{number} has {comments} previewd comments")
    per_sha = Counter((d["environment"], d["sha"]) for d in list(rig.fake.deployments.get(REPO, [])))
    problems += [
        f"{n} GitHub Deployments of {env} at {sha[:7]}" for (env, sha), n in per_sha.items() if n > 1
    ]
    kept = Counter(
        (r["pr_number"], r["commit_sha"]) for r in rows if r["status"] != DeploymentStatus.SUPERSEDED
    )
    problems += [f"{n} deployments of PR #{pr} at {sha[:7]}" for (pr, sha), n in kept.items() if n > 1]
    return problems


def workflows_match(rig: Rig) -> list[str]:
    """An open PR's workflow runs; a closed PR's does not."""
    problems = []
    for number, pull in sorted(rig.all_pulls().items()):
        status = rig.temporal(functools.partial(workflow_status, project_id=rig.project_id, number=number))
        if pull["state"] == "open" and status != "RUNNING":
            problems.append(f"PR #{number} is open but its workflow is {status}")
        if pull["state"] != "open" and status == "RUNNING":
            waiting = rig.temporal(
                functools.partial(pending_activities, project_id=rig.project_id, number=number)
            )
            problems.append(
                f"PR #{number} is closed but its workflow still runs, waiting on {waiting or 'nothing'}"
            )
    return problems


def acted_on_once(rig: Rig, fault_windows: list[tuple[float, float]]) -> tuple[list[str], int, int]:
    """Every delivery that got a 2xx has its one outbox row, dispatched (or set aside with a reason),
    and a dispatched one reached its workflow as one signal. The dispatcher sends at least once: a
    signal Temporal took just before Postgres (or the worker, or Temporal's answer) went away is sent
    again, and the workflow drops the repeat by its delivery id (the duplicate-deployment check shows
    it did). So a repeat is accepted only for a delivery received during a fault; anywhere else it is
    a problem. Returns the problems, how many deliveries were checked and how many were repeated."""
    accepted = {a.guid for a in list(rig.fake.hooks.attempts) if a.ok and a.event == "pull_request"}
    rows = {
        r["delivery_id"]: r
        for r in rig.rows(
            "SELECT delivery_id, outcome, reason, pr_number, received_at FROM webhook_deliveries"
            " WHERE delivery_id = ANY(%(g)s)",
            {"g": list(accepted)},
        )
    }
    problems = [f"delivery {guid} got a 2xx but has no outbox row" for guid in sorted(accepted - rows.keys())]

    def during(received: datetime) -> bool:
        at = received.timestamp()
        return any(start - FAULT_SLACK <= at <= end for start, end in fault_windows)

    signalled: Counter[str] = Counter()
    for number in sorted(rig.all_pulls()):
        ids = functools.partial(signalled_delivery_ids, project_id=rig.project_id, number=number)
        signalled.update(rig.temporal(ids))
    for guid, row in rows.items():
        if row["outcome"] == "queued":
            problems.append(f"delivery {guid} (PR #{row['pr_number']}) is still queued in the outbox")
        elif row["outcome"] == "dispatched" and signalled[guid] == 0:
            problems.append(f"delivery {guid} (PR #{row['pr_number']}) was dispatched but never signalled")
        elif row["outcome"] == "dispatched" and signalled[guid] > 1 and not during(row["received_at"]):
            problems.append(
                f"delivery {guid} (PR #{row['pr_number']}) was signalled {signalled[guid]} times, "
                "outside any fault"
            )
        elif row["outcome"] != "dispatched" and signalled[guid]:
            problems.append(f"delivery {guid} was {row['outcome']} ({row['reason']}) yet signalled")
    repeated = sum(1 for guid in rows if signalled[guid] > 1)
    return problems, len(rows), repeated
