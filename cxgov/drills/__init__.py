"""Reversal drills: prove each reversible action's undo works, on a fresh sandbox fixture, on a schedule."""
