"""Temporal workflow definitions only: deterministic, no I/O. Every side effect is an activity.

This package file imports nothing on purpose: the workflow sandbox re-imports a workflow's module (and its
package) for every run, so each run should load only the one module it needs.
"""
