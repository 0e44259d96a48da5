"""The audit archive: full workflow histories and hash-chained normalized records, with retention."""

from cxgov.audit.store import AuditArchive

__all__ = ["AuditArchive"]
