"""Every Postgres advisory lock previewd takes: one registry, so no two kinds of lock share a key.

Postgres has a single key space of 64-bit integers per database for these locks. Each kind of lock
gets a space of its own: the key's top byte names the space, the low 56 bits name what is locked
(a repository id as it is; a pull request or a deployment as a hash, where a rare collision only
makes two writers wait for each other). Keys are computed here and passed to Postgres as they are.

Holders take several locks of one kind in key order, so two of them never wait for each other in a
circle; a delivery takes its pull request's lock before its repository's, never the other way round.
"""

from __future__ import annotations

import hashlib
import uuid
from enum import IntEnum

ID_BITS = 56
ID_MASK = (1 << ID_BITS) - 1


class LockSpace(IntEnum):
    # Session lock: the one outbox dispatcher that leads (several workers may run).
    DISPATCHER_LEADER = 1
    # Transaction lock: a PR's outbox rows take their ids in the order they arrive.
    PULL_REQUEST = 2
    # Transaction lock, shared by deliveries being recorded, exclusive for a change that switches the
    # repository's project off (or connects it).
    REPOSITORY = 3
    # Transaction lock: writers of one deployment's log commit in id order.
    DEPLOYMENT_LOG = 4
    # Transaction lock: a project's build queue is changed by one writer at a time (models/build_slots.py).
    BUILD_QUEUE = 5


def _key(space: LockSpace, identity: int) -> int:
    # The space stays below 128, so the key is a positive bigint whatever the identity.
    return (space << ID_BITS) | (identity & ID_MASK)


def _hashed(space: LockSpace, *parts: object) -> int:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=ID_BITS // 8).digest()
    return _key(space, int.from_bytes(digest, "big"))


DISPATCHER_LEADER = _key(LockSpace.DISPATCHER_LEADER, 0)


def pull_request_key(repo_id: int, pr_number: int) -> int:
    return _hashed(LockSpace.PULL_REQUEST, repo_id, pr_number)


def repository_key(repo_id: int) -> int:
    """Exact for any GitHub repository id and for the (negative, 48-bit) ids of local repositories."""
    return _key(LockSpace.REPOSITORY, repo_id)


def deployment_log_key(deployment_id: uuid.UUID) -> int:
    return _hashed(LockSpace.DEPLOYMENT_LOG, deployment_id)


def build_queue_key(project_id: uuid.UUID) -> int:
    return _hashed(LockSpace.BUILD_QUEUE, project_id)


def space_of(key: int) -> LockSpace:
    return LockSpace(key >> ID_BITS)
