"""Sub-command groups of the `cxgov` CLI, one module per group."""
