"""What the audit tests share besides fixtures."""

CHAINED = 20
"""How many records the `chained` archive (tests/audit/conftest.py) holds."""
