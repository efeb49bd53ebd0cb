"""Advisory-lock keys: one space per kind of lock, and no key of one space inside another."""

from __future__ import annotations

import uuid

from models.locks import (
    DISPATCHER_LEADER,
    LockSpace,
    build_queue_key,
    deployment_log_key,
    pull_request_key,
    repository_key,
    space_of,
)
from models.queries import local_repo_id

SIGNED_BIGINT = range(-(2**63), 2**63)


def test_each_key_lies_in_its_own_space() -> None:
    repos = [1, 186853002, 2**40, local_repo_id("me/app"), -1]
    keys = {
        LockSpace.DISPATCHER_LEADER: [DISPATCHER_LEADER],
        LockSpace.PULL_REQUEST: [pull_request_key(repo, pr) for repo in repos for pr in (1, 7, 2**31)],
        LockSpace.REPOSITORY: [repository_key(repo) for repo in repos],
        LockSpace.DEPLOYMENT_LOG: [deployment_log_key(uuid.uuid4()) for _ in range(20)],
        LockSpace.BUILD_QUEUE: [build_queue_key(uuid.uuid4()) for _ in range(20)],
    }
    for space, space_keys in keys.items():
        assert all(key in SIGNED_BIGINT and space_of(key) == space for key in space_keys)


def test_keys_tell_apart_what_they_lock() -> None:
    repos = [1, 2, 186853002, local_repo_id("me/app"), local_repo_id("me/other")]
    assert len({repository_key(repo) for repo in repos}) == len(repos)
    assert pull_request_key(1, 2) != pull_request_key(2, 1)
    assert pull_request_key(42, 7) == pull_request_key(42, 7)
    deployment = uuid.uuid4()
    assert deployment_log_key(deployment) == deployment_log_key(uuid.UUID(str(deployment)))
