"""One action is one trace: the client's start, the workflow and each of its activities share a trace id."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from action_kit import request
from harness import CHARTER, TEST_SIGNER, TRUSTED, Stack
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from cxgov.client import CxgovClient
from cxgov.connection import governed
from cxgov.connectors import Systems
from cxgov.sandbox import Sandbox
from cxgov.wire import Status
from worker import build_worker
from worker.build import NOT_ENFORCED


async def test_one_action_is_one_trace(dev_env: WorkflowEnvironment, sandbox: Sandbox) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # One traced connection for client and worker alike (start_stack would add a second, untraced interceptor).
    client = governed(dev_env.client, tracer=provider.get_tracer("cxgov-tests"))
    task_queue = f"test-{uuid.uuid4()}"
    worker = build_worker(
        client,
        task_queue=task_queue,
        charter_path=CHARTER,
        systems=Systems.serving(sandbox),
        executor=ThreadPoolExecutor(max_workers=4),
        trusted_keys=TRUSTED,
        drills=NOT_ENFORCED,
        budgets=NOT_ENFORCED,
    )
    traced = Stack(
        client=CxgovClient(client, task_queue=task_queue, charter_path=CHARTER, signer=TEST_SIGNER),
        temporal=client,
        sandbox=sandbox,
        task_queue=task_queue,
        charter_path=CHARTER,
    )
    async with worker:
        state = await traced.client.act(request(traced), wait=20)
    assert state.status == Status.COMPLETED
    provider.force_flush()

    spans = exporter.get_finished_spans()
    [start] = [span for span in spans if span.name == "StartWorkflow:action"]
    assert start.context is not None
    trace_id = start.context.trace_id
    in_trace = {span.name for span in spans if span.context is not None and span.context.trace_id == trace_id}
    assert {
        "StartWorkflow:action",
        "RunWorkflow:action",
        "RunActivity:authorize",
        "RunActivity:execute_action",
        "RunActivity:verify_action",
    } <= in_trace, sorted(in_trace)
    assert "RunActivity:compensate_action" not in in_trace
    provider.shutdown()
