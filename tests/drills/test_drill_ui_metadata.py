"""A drill started the way `cxgov drills run` starts it carries its summary, and its details say how it ended."""

from __future__ import annotations

from drillkit import DrillStackFactory
from temporalio.api.sdk.v1 import WorkflowMetadata


async def test_a_drill_says_what_it_drills_and_whether_it_passed(drill_stack: DrillStackFactory) -> None:
    stack = await drill_stack()

    result = await stack.client.run_drill("refund")

    assert result.passed
    handle = stack.temporal.get_workflow_handle(result.drill_id.split("/")[0])
    assert await (await handle.describe()).static_summary() == "reversal drill of refund (sandbox)"
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details == ("**Drill passed**: refund was done and undone in the sandbox, state restored")
