"""Every recorded history replays against today's workflow code (trap 12): a change that would break running
workflows fails here, and must go behind `workflow.patched()` instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker.build import ALL_WORKFLOWS, WORKFLOW_RUNNER

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_is_a_history_for_every_workflow_type() -> None:
    kinds = {path.stem.split("_")[0] for path in HISTORIES}
    assert kinds >= {"action", "reversal", "drill", "drills", "notice", "audit"}


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=WORKFLOW_RUNNER
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_the_split_first_task_history_keeps_its_shape() -> None:
    """Kept from a run under load: the worker completed the first workflow task with only the authorize local
    activity's marker, and the code after it ran in the second task. Deciding a patch there made replays
    nondeterministic (see workflows.action.PATCHES_AT_START); this history must keep that shape to guard it."""
    path = Path(__file__).parent / "histories" / "action_denied_split_first_task.json"
    events = WorkflowHistory.from_json("split", path.read_text()).events
    kinds = [event.event_type for event in events]
    authorized = next(
        index
        for index, event in enumerate(events)
        if event.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )
    assert kinds[authorized + 1] == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in kinds
