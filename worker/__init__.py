"""Builds the cxgov Worker: every workflow and activity, pydantic data converter, tracing interceptor."""

from worker.build import build_worker

__all__ = ["build_worker"]
