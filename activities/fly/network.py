"""Each project's preview apps share one private network of their own on Fly.io.

Apps of an organization reach each other over `.internal` on the network they were created on (the
org's default one unless told otherwise). A PR's code is hostile, so previews of one project must not
reach another project's: each project gets `previewd-{short hash of its id}`, named when the app is
created (Fly cannot move an app to another network afterwards).
"""

from __future__ import annotations

import hashlib

NETWORK_PREFIX = "previewd-"
# 48 bits of the project id's hash: no two projects of one org meet, and the name stays short.
HASH_LENGTH = 12


def project_network(project_id: str) -> str:
    return NETWORK_PREFIX + hashlib.sha256(project_id.encode()).hexdigest()[:HASH_LENGTH]
