"""Temporal workflow definitions only: deterministic, no I/O. Every side effect is an activity."""

from workflows.action import ActionWorkflow

ALL_WORKFLOWS: list[type] = [ActionWorkflow]

__all__ = ["ALL_WORKFLOWS", "ActionWorkflow"]
