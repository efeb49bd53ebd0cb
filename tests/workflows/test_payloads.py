"""The vocabulary's enums survive Temporal's JSON payloads: a decoded field is the enum again, not a
bare string, so workflow code and its callers can rely on the type (and on `is` comparisons)."""

from __future__ import annotations

import json

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from tests.workflows.harness import Harness, is_active, wait_for_state
from workflows.activity_io import ReportInput, SetStatusInput
from workflows.preview import PreviewWorkflow
from workflows.signals import HistoryEntry, PreviewState
from workflows.vocabulary import DeploymentStatus, Phase, ReportPhase

CONVERTER = DataConverter.default.payload_converter


def test_enum_fields_decode_to_their_enum_types() -> None:
    state = PreviewState(phase=Phase.AWAITING_APPROVAL, last_report=ReportInput(phase=ReportPhase.READY))
    status = SetStatusInput(deployment_id="d", status=DeploymentStatus.SUPERSEDED)

    [state_back, status_back] = CONVERTER.from_payloads(
        CONVERTER.to_payloads([state, status]), [PreviewState, SetStatusInput]
    )

    assert state_back == state and status_back == status
    assert type(state_back.phase) is Phase
    assert state_back.last_report is not None and type(state_back.last_report.phase) is ReportPhase
    assert type(status_back.status) is DeploymentStatus


def test_plain_strings_from_other_writers_decode_to_enums() -> None:
    """A payload written without the enums (a plain JSON string) reads back as the enum member."""
    raw = json.dumps({"phase": "active", "history": [{"status": "superseded"}]}).encode()
    payload = Payload(metadata={"encoding": b"json/plain"}, data=raw)

    [state] = CONVERTER.from_payloads([payload], [PreviewState])

    assert state.phase is Phase.ACTIVE
    assert state.history == [HistoryEntry(status="superseded")]


async def test_the_state_query_answers_with_enums(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))

    state = await handle.query(PreviewWorkflow.get_state)

    assert state.phase is Phase.ACTIVE
    assert state.last_report is not None and state.last_report.phase is ReportPhase.READY
