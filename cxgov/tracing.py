"""OpenTelemetry wiring: temporalio's TracingInterceptor on client and worker; export off by default."""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor

from cxgov.errors import BadRequest

_configured = threading.Lock()
_done = False


def configure_tracing(mode: str) -> None:
    """Install a global tracer provider exporting to the console or OTLP; `off` installs nothing.

    OTLP sends to OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), as the SDK reads them.
    """
    global _done
    if mode == "off":
        return
    exporter: SpanExporter
    if mode == "console":
        exporter = ConsoleSpanExporter()
    elif mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        raise BadRequest(f"CXGOV_TRACING={mode!r}: use off, console or otlp")
    with _configured:
        if _done:
            return
        provider = TracerProvider(resource=Resource.create({"service.name": "cxgov"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _done = True


def tracing_interceptor(tracer: trace.Tracer | None = None) -> TracingInterceptor:
    """The interceptor every cxgov client and worker installs (spans are no-ops until a provider is set)."""
    return TracingInterceptor(tracer)
