"""Fair build queues, through signed webhooks, the real worker, Postgres and Temporal: a project builds at
most `max_concurrent_builds` deployments at once, two busy projects take turns instead of one starving
the other, a queued PR is told its place, and a slot whose workflow is gone is reclaimed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import text
from temporalio.client import Client

from activities.build_slots import BUILDING_UNCONFIRMED_AFTER, WAITING_UNCONFIRMED_AFTER
from models import build_slots
from models.db import Database
from tests.integration.github_system import REPO, GitHubSystem
from tests.integration.system import AppRepo, System, wait_for
from workflows.signals import workflow_id_for

PRS_PER_PROJECT = 5


def _builds(system: System, project_id: str) -> list[tuple[datetime, datetime]]:
    rows = system.rows(
        "SELECT started_at, completed_at FROM deployments WHERE project_id = :p AND status = 'active'"
        " ORDER BY started_at",
        p=project_id,
    )
    return [(row["started_at"], row["completed_at"]) for row in rows]


def _all_live(system: System, project_id: str) -> bool:
    return len(_builds(system, project_id)) == PRS_PER_PROJECT


def test_two_busy_projects_take_turns_one_build_each_at_a_time(system: System, tmp_path: Path) -> None:
    repos = [AppRepo.create(tmp_path / f"turns-{name}-{uuid.uuid4().hex[:6]}") for name in "ab"]
    projects = [system.add_project(repo, max_concurrent_builds=1) for repo in repos]
    heads = {}
    for repo, project in zip(repos, projects, strict=True):
        for number in range(1, PRS_PER_PROJECT + 1):
            heads[(project["id"], number)] = repo.commit(f"PR {number} of {repo.path.name}")
    # Project a's five pushes all arrive before any of b's: without per-project slots, a's builds would
    # take the worker's two build slots until all five were done.
    for (project_id, number), sha in heads.items():
        project = next(p for p in projects if p["id"] == project_id)
        system.pull_request(project, "opened", number, sha)

    for project in projects:
        wait_for(partial(_all_live, system, project["id"]), timeout=300, what="all five PRs live")

    a, b = (_builds(system, project["id"]) for project in projects)
    for builds in (a, b):
        # One build of a project at a time: each starts only after the one before it ended.
        for (_, ended), (started, _) in zip(builds, builds[1:], strict=False):
            assert started >= ended, builds
    # Both progressed alternately: at no point had one project finished two more builds than the other.
    ends = sorted([(end, "a") for _, end in a] + [(end, "b") for _, end in b])
    done = {"a": 0, "b": 0}
    for _, name in ends:
        done[name] += 1
        if min(done.values()) < PRS_PER_PROJECT:
            assert abs(done["a"] - done["b"]) <= 2, ends
    assert b[0][0] < a[1][1], "project b's first build waited for project a's second"


def test_the_api_refuses_more_builds_at_once_than_the_operator_allows(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    assert project["deployment_config"]["max_concurrent_builds"] == 1
    config = {**project["deployment_config"], "max_concurrent_builds": 5}  # the ceiling here is 4
    with system.api() as client:
        refused = client.patch(f"/api/projects/{project['id']}", json={"deployment_config": config})
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["detail"]
        assert problem["loc"][-1] == "max_concurrent_builds"
        assert "PREVIEWD_MAX_BUILDS_PER_PROJECT" in problem["msg"]
        accepted = client.patch(
            f"/api/projects/{project['id']}",
            json={"deployment_config": {**config, "max_concurrent_builds": 4}},
        )
        assert (
            accepted.status_code == 200 and accepted.json()["deployment_config"]["max_concurrent_builds"] == 4
        )


def _sticky_says(github: GitHubSystem, number: int, text: str) -> bool:
    return text in github.sticky(number)


def test_a_queued_pr_shows_its_place_and_a_terminated_holder_frees_the_slot(github: GitHubSystem) -> None:
    system, fake = github.system, github.fake
    # PR numbers of their own: the session's GitHub fake keeps comments and deployments by number.
    # Only a commit whose message says "slow" takes a minute to build.
    build = "if grep -q slow message.txt; then sleep 60; fi; python3 build.py"
    project = github.add_project(9150, build_command=build, max_concurrent_builds=1)
    shas = {}
    for number, message in ((151, "slow build holding the slot"), (152, "PR 152"), (153, "PR 153")):
        shas[number] = github.push(message, ref=f"refs/heads/queue-{number}")
        fake.set_pull(REPO, number, head_sha=shas[number], head_ref=f"queue-{number}")
        system.pull_request(project, "opened", number, shas[number], head_ref=f"queue-{number}")
        if number == 151:
            system.wait_status(project["id"], 151, shas[151], "building")

    # The PRs behind it are told their place on their sticky comment, and the API says it too.
    wait_for(partial(_sticky_says, github, 152, "1 build ahead"), timeout=60, what="PR 152's place")
    wait_for(partial(_sticky_says, github, 153, "2 builds ahead"), timeout=60, what="PR 153's place")
    [waiting] = system.deployments(project["id"], 153)
    with system.api() as client:
        answer = client.get(f"/api/deployments/{waiting['id']}").json()
    assert (answer["status"], answer["builds_ahead"]) == ("pending", 2)
    dashboard = system.dashboard()
    try:
        page = dashboard.get(f"/deployments/{waiting['id']}").text
        pulls = dashboard.get(f"/projects/{project['id']}/pulls", headers={"HX-Request": "true"}).text
    finally:
        dashboard.close()
    assert "2 builds ahead" in page
    # The project's open PRs, from each workflow's state: the waiting ones with their place.
    assert "Waiting for a build slot: 1 build ahead" in pulls and "2 builds ahead" in pulls

    # The holder's workflow is terminated mid-build (no cleanup runs): its slot is reclaimed, and the
    # queue moves on without it.
    terminated_at = datetime.now().astimezone()
    asyncio.run(_terminate(system, project["id"], 151))
    system.wait_status(project["id"], 152, shas[152], "active", timeout=120)
    system.wait_status(project["id"], 153, shas[153], "active", timeout=120)
    [second] = system.deployments(project["id"], 152)
    assert second["started_at"] > terminated_at
    # Every slot given back (the last right after its deployment went live) and the reclaimed one gone.
    slots = partial(system.rows, "SELECT * FROM build_slots WHERE project_id = :p", p=project["id"])
    wait_for(lambda: slots() == [], timeout=30, what="the project's build queue empty")
    wait_for(partial(_sticky_says, github, 153, "Ready"), timeout=60, what="PR 153 told ready")
    assert "builds ahead" not in github.sticky(153)


async def _terminate(system: System, project_id: str, number: int) -> Any:
    client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
    await client.get_workflow_handle(workflow_id_for(project_id, number)).terminate("test: a crashed holder")


def test_asks_at_once_never_take_more_slots_than_the_limit_and_are_served_in_order(
    system: System, repo: AppRepo
) -> None:
    """The queue itself on the real Postgres: ten asks at once (each its own connection) under a limit
    of two grant exactly the two first; leaving wakes the first waiting; a row whose build is over by
    its deployment's status is reclaimed even though its workflow still runs."""
    project = system.add_project(repo, max_concurrent_builds=2)
    ids = [uuid.uuid4() for _ in range(10)]
    with system.engine.begin() as connection:
        for n, deployment_id in enumerate(ids):
            connection.execute(
                text(
                    "INSERT INTO deployments (id, project_id, pr_number, pr_title, pr_author, pr_branch,"
                    " commit_sha, app_name, workflow_id, status, created_at, updated_at) VALUES (:id, :p, :n,"
                    " '', '', '', 'abc', :app, :w, 'pending', now(), now())"
                ),
                {"id": deployment_id, "p": project["id"], "n": n, "app": f"pr-{n}-q", "w": f"wf-{n}"},
            )
    asyncio.run(_queue_at_once(system, uuid.UUID(project["id"]), ids))


async def _queue_at_once(system: System, project_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    db = Database(system.database_url, pool_size=10)

    async def take(n: int) -> build_slots.Place:
        async with db.session() as session:
            return await build_slots.take_or_queue(
                session, project_id=project_id, deployment_id=ids[n], workflow_id=f"wf-{n}", run_id="r",
                limit=2,
            )  # fmt: skip

    try:
        # All ten ask at once: exactly two are granted, the two that arrived first (row order).
        first = await asyncio.gather(*(take(n) for n in range(len(ids))))
        assert sum(p.granted for p in first) == 2
        arrival = [row["deployment_id"] for row in system.rows(
            "SELECT deployment_id FROM build_slots WHERE project_id = :p ORDER BY id", p=project_id
        )]  # fmt: skip
        assert {ids[n] for n, p in enumerate(first) if p.granted} == set(arrival[:2])
        ids[:] = arrival  # from here on, in the order they arrived
        # Asking again keeps each one's place.
        places = await asyncio.gather(*(take(n) for n in reversed(range(len(ids)))))
        places.reverse()
        assert [p.granted for p in places] == [True, True] + [False] * 8
        assert [p.ahead for p in places[2:]] == [2, 3, 4, 5, 6, 7, 8, 9]
        async with db.session() as session:
            assert await build_slots.place_in_line(session, ids[4]) == 4
            assert await build_slots.place_in_line(session, ids[0]) is None
            # The first holder is done: the first rows still waiting are the ones to tell.
            woken = await build_slots.leave(session, deployment_id=ids[0], wake=2)
            assert [h.deployment_id for h in woken] == ids[2:4]
        assert (await take(3)).granted is False and (await take(2)).granted is True
        # The second holder's deployment went live, but its release never came: reclaimed all the same.
        with system.engine.begin() as connection:
            connection.execute(text("UPDATE deployments SET status = 'active' WHERE id = :d"), {"d": ids[1]})
        async with db.session() as session:
            assert await build_slots.reclaim(session, project_id=project_id, gone=[]) == 1
        assert (await take(3)).granted is True
        assert (await take(4)) == build_slots.Place(granted=False, ahead=2)
        # Who gets asked about: a building row silent for 20 s, a waiting one for 70 s (longer than it
        # waits between asks); not a waiting one silent for 40 s (it asks every 30 s at most).
        silent = {ids[3]: 20, ids[5]: 40, ids[6]: 70}
        with system.engine.begin() as connection:
            connection.execute(
                text("UPDATE build_slots SET seen_at = now() WHERE project_id = :p"), {"p": project_id}
            )
            for deployment_id, seconds in silent.items():
                connection.execute(
                    text(
                        "UPDATE build_slots SET seen_at = now() - make_interval(secs => :s)"
                        " WHERE deployment_id = :d"
                    ),
                    {"s": seconds, "d": deployment_id},
                )
        async with db.session() as session:
            doubted = partial(
                build_slots.unconfirmed, session, project_id=project_id, besides=ids[4],
                building_after=BUILDING_UNCONFIRMED_AFTER, waiting_after=WAITING_UNCONFIRMED_AFTER,
            )  # fmt: skip
            assert [h.deployment_id for h in await doubted(most=20)] == [ids[6], ids[3]]
            assert [h.deployment_id for h in await doubted(most=1)] == [ids[6]]
    finally:
        await db.dispose()
