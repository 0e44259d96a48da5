"""Temporal workflow definitions only: deterministic, no I/O. Every side effect is an activity."""

from workflows.action import ActionWorkflow
from workflows.audit import AuditArchiveWorkflow, AuditRetentionWorkflow
from workflows.reversal import ReversalWorkflow

ALL_WORKFLOWS: list[type] = [ActionWorkflow, ReversalWorkflow, AuditArchiveWorkflow, AuditRetentionWorkflow]

__all__ = ["ALL_WORKFLOWS", "ActionWorkflow", "AuditArchiveWorkflow", "AuditRetentionWorkflow", "ReversalWorkflow"]
